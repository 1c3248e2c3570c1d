package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bulwark-ai/bulwark/webhook"
)

var _ webhook.Store = (*DB)(nil)

// execer is a transaction or the pool.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// putEvent records ev unless it is recorded; an event without an id is
// none.
func putEvent(ctx context.Context, x execer, ev webhook.Event) error {
	if ev.ID == "" {
		return nil
	}
	_, err := x.Exec(ctx, `INSERT INTO webhook_events (id, type, tenant_id, object_id, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO NOTHING`, ev.ID, ev.Type, ev.TenantID, ev.ObjectID, ev.CreatedAt)
	return err
}

// PutEvent implements webhook.Store.
func (db *DB) PutEvent(ctx context.Context, e webhook.Event) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	if err := putEvent(ctx, db.pool, e); err != nil {
		return opError("record webhook event", err)
	}
	return nil
}

// NewEvents implements webhook.Store.
func (db *DB) NewEvents(ctx context.Context, limit int) ([]webhook.Event, error) {
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT id, type, tenant_id, object_id, created_at FROM webhook_events
		WHERE NOT fanned_out ORDER BY seq LIMIT $1`, limit)
	if err != nil {
		return nil, opError("read webhook events", err)
	}
	defer rows.Close()
	var out []webhook.Event
	for rows.Next() {
		var e webhook.Event
		if err := rows.Scan(&e.ID, &e.Type, &e.TenantID, &e.ObjectID, &e.CreatedAt); err != nil {
			return nil, opError("read webhook events", err)
		}
		e.CreatedAt = e.CreatedAt.UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, opError("read webhook events", err)
	}
	return out, nil
}

// FanOut implements webhook.Store.
func (db *DB) FanOut(ctx context.Context, e webhook.Event, ds []webhook.Delivery) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		for _, d := range ds {
			data, err := json.Marshal(d)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (id, event_id, endpoint, state, next_at, delivery)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, d.ID, d.EventID, d.Endpoint, string(d.State), d.NextAt, string(data)); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, "UPDATE webhook_events SET fanned_out = true WHERE id = $1", e.ID)
		return err
	})
	if err != nil {
		return opError("fan out webhook event", err)
	}
	return nil
}

// ClaimDeliveries implements webhook.Store. Replicas claiming at once
// take different deliveries (SKIP LOCKED).
func (db *DB) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]webhook.Delivery, error) {
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `UPDATE webhook_deliveries SET next_at = $1
		WHERE id IN (SELECT id FROM webhook_deliveries WHERE state = 'pending' AND next_at <= $2 ORDER BY next_at LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING delivery::text`, now.Add(lease), now, limit)
	if err != nil {
		return nil, opError("claim webhook deliveries", err)
	}
	return scanDeliveries(rows, "claim webhook deliveries")
}

func scanDeliveries(rows pgx.Rows, op string) ([]webhook.Delivery, error) {
	defer rows.Close()
	var out []webhook.Delivery
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, opError(op, err)
		}
		var d webhook.Delivery
		if err := json.Unmarshal([]byte(data), &d); err != nil {
			return nil, fmt.Errorf("decode webhook delivery: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, opError(op, err)
	}
	return out, nil
}

// UpdateDelivery implements webhook.Store.
func (db *DB) UpdateDelivery(ctx context.Context, d webhook.Delivery) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("record webhook delivery: %w", err)
	}
	if _, err := db.pool.Exec(ctx, "UPDATE webhook_deliveries SET state = $1, next_at = $2, delivery = $3 WHERE id = $4",
		string(d.State), d.IndexedAt(), string(data), d.ID); err != nil {
		return opError("record webhook delivery", err)
	}
	return nil
}

// Deliveries implements webhook.Store.
func (db *DB) Deliveries(ctx context.Context, p webhook.Page) ([]webhook.Delivery, bool, error) {
	if err := db.open(ctx); err != nil {
		return nil, false, err
	}
	rows, err := db.pool.Query(ctx, `SELECT delivery::text FROM webhook_deliveries
		WHERE ($1 = '' OR state = $1) AND ($2 = '' OR seq < (SELECT seq FROM webhook_deliveries WHERE id = $2))
		ORDER BY seq DESC LIMIT $3`, string(p.State), p.After, p.Limit+1)
	if err != nil {
		return nil, false, opError("list webhook deliveries", err)
	}
	out, err := scanDeliveries(rows, "list webhook deliveries")
	if err != nil {
		return nil, false, err
	}
	more := len(out) > p.Limit
	if more {
		out = out[:p.Limit]
	}
	return out, more, nil
}

// RetryDelivery implements webhook.Store.
func (db *DB) RetryDelivery(ctx context.Context, id string, now time.Time) (webhook.Delivery, error) {
	if err := db.open(ctx); err != nil {
		return webhook.Delivery{}, err
	}
	var d webhook.Delivery
	var data string
	err := db.pool.QueryRow(ctx, "SELECT delivery::text FROM webhook_deliveries WHERE id = $1", id).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("webhook delivery %s: %w", id, webhook.ErrNotFound)
	}
	if err != nil {
		return d, opError("read webhook delivery", err)
	}
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return d, fmt.Errorf("decode webhook delivery: %w", err)
	}
	if d.State != webhook.Dead {
		return d, fmt.Errorf("webhook delivery %s is %s, not dead: %w", id, d.State, webhook.ErrConflict)
	}
	d.State, d.Attempts, d.NextAt, d.UpdatedAt = webhook.Pending, 0, now, now
	b, err := json.Marshal(d)
	if err != nil {
		return d, fmt.Errorf("retry webhook delivery: %w", err)
	}
	tag, err := db.pool.Exec(ctx, "UPDATE webhook_deliveries SET state = 'pending', next_at = $1, delivery = $2 WHERE id = $3 AND state = 'dead'",
		now, string(b), id)
	if err != nil {
		return d, opError("retry webhook delivery", err)
	}
	if tag.RowsAffected() == 0 {
		return d, fmt.Errorf("webhook delivery %s is no longer dead: %w", id, webhook.ErrConflict)
	}
	return d, nil
}

// PurgeDeliveries implements webhook.Store. An ended delivery's next_at
// is when it ended (webhook.Delivery.IndexedAt).
func (db *DB) PurgeDeliveries(ctx context.Context, before time.Time) (int, error) {
	if err := db.open(ctx); err != nil {
		return 0, err
	}
	var n int64
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM webhook_deliveries WHERE state IN ('delivered', 'dead') AND next_at < $1", before)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, `DELETE FROM webhook_events e WHERE fanned_out AND created_at < $1
			AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)`, before)
		return err
	})
	if err != nil {
		return 0, opError("purge webhook deliveries", err)
	}
	return int(n), nil
}
