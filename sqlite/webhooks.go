package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-ai/bulwark/webhook"
)

var _ webhook.Store = (*DB)(nil)

// execer is a transaction or the database.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// putEvent records ev unless it is recorded; an event without an id is
// none.
func putEvent(ctx context.Context, x execer, ev webhook.Event) error {
	if ev.ID == "" {
		return nil
	}
	_, err := x.ExecContext(ctx, `INSERT INTO webhook_events (id, type, tenant_id, object_id, created_ns) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, ev.ID, ev.Type, ev.TenantID, ev.ObjectID, ev.CreatedAt.UnixNano())
	return err
}

// PutEvent implements webhook.Store.
func (db *DB) PutEvent(ctx context.Context, e webhook.Event) error {
	if err := putEvent(ctx, db.db, e); err != nil {
		return opError("record webhook event", err)
	}
	return nil
}

// NewEvents implements webhook.Store.
func (db *DB) NewEvents(ctx context.Context, limit int) ([]webhook.Event, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT id, type, tenant_id, object_id, created_ns FROM webhook_events
		WHERE fanned_out = 0 ORDER BY created_ns, id LIMIT ?`, limit)
	if err != nil {
		return nil, opError("read webhook events", err)
	}
	defer rows.Close()
	var out []webhook.Event
	for rows.Next() {
		var e webhook.Event
		var ns int64
		if err := rows.Scan(&e.ID, &e.Type, &e.TenantID, &e.ObjectID, &ns); err != nil {
			return nil, opError("read webhook events", err)
		}
		e.CreatedAt = time.Unix(0, ns).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, opError("read webhook events", err)
	}
	return out, nil
}

// FanOut implements webhook.Store.
func (db *DB) FanOut(ctx context.Context, e webhook.Event, ds []webhook.Delivery) error {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return opError("fan out webhook event", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, d := range ds {
		data, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("fan out webhook event: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, event_id, endpoint, state, next_ns, delivery)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, d.ID, d.EventID, d.Endpoint, string(d.State), d.NextAt.UnixNano(), string(data)); err != nil {
			return opError("fan out webhook event", err)
		}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE webhook_events SET fanned_out = 1 WHERE id = ?", e.ID); err != nil {
		return opError("fan out webhook event", err)
	}
	if err := tx.Commit(); err != nil {
		return opError("fan out webhook event", err)
	}
	return nil
}

// ClaimDeliveries implements webhook.Store.
func (db *DB) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]webhook.Delivery, error) {
	rows, err := db.db.QueryContext(ctx, `UPDATE webhook_deliveries SET next_ns = ?
		WHERE id IN (SELECT id FROM webhook_deliveries WHERE state = 'pending' AND next_ns <= ? ORDER BY next_ns LIMIT ?)
		RETURNING delivery`, now.Add(lease).UnixNano(), now.UnixNano(), limit)
	if err != nil {
		return nil, opError("claim webhook deliveries", err)
	}
	defer rows.Close()
	var out []webhook.Delivery
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, opError("claim webhook deliveries", err)
		}
		var d webhook.Delivery
		if err := json.Unmarshal([]byte(data), &d); err != nil {
			return nil, fmt.Errorf("decode webhook delivery: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, opError("claim webhook deliveries", err)
	}
	return out, nil
}

// UpdateDelivery implements webhook.Store.
func (db *DB) UpdateDelivery(ctx context.Context, d webhook.Delivery) error {
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("record webhook delivery: %w", err)
	}
	if _, err := db.db.ExecContext(ctx, "UPDATE webhook_deliveries SET state = ?, next_ns = ?, delivery = ? WHERE id = ?",
		string(d.State), d.IndexedAt().UnixNano(), string(data), d.ID); err != nil {
		return opError("record webhook delivery", err)
	}
	return nil
}

// Deliveries implements webhook.Store.
func (db *DB) Deliveries(ctx context.Context, p webhook.Page) ([]webhook.Delivery, bool, error) {
	q := "SELECT delivery FROM webhook_deliveries WHERE 1 = 1"
	var args []any
	if p.State != "" {
		q += " AND state = ?"
		args = append(args, string(p.State))
	}
	if p.After != "" {
		q += " AND seq < (SELECT seq FROM webhook_deliveries WHERE id = ?)"
		args = append(args, p.After)
	}
	q += " ORDER BY seq DESC LIMIT ?"
	args = append(args, p.Limit+1)
	rows, err := db.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, opError("list webhook deliveries", err)
	}
	defer rows.Close()
	var out []webhook.Delivery
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, false, opError("list webhook deliveries", err)
		}
		var d webhook.Delivery
		if err := json.Unmarshal([]byte(data), &d); err != nil {
			return nil, false, fmt.Errorf("decode webhook delivery: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, false, opError("list webhook deliveries", err)
	}
	more := len(out) > p.Limit
	if more {
		out = out[:p.Limit]
	}
	return out, more, nil
}

// RetryDelivery implements webhook.Store.
func (db *DB) RetryDelivery(ctx context.Context, id string, now time.Time) (webhook.Delivery, error) {
	var d webhook.Delivery
	var data string
	err := db.db.QueryRowContext(ctx, "SELECT delivery FROM webhook_deliveries WHERE id = ?", id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
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
	res, err := db.db.ExecContext(ctx, "UPDATE webhook_deliveries SET state = 'pending', next_ns = ?, delivery = ? WHERE id = ? AND state = 'dead'",
		now.UnixNano(), string(b), id)
	if err != nil {
		return d, opError("retry webhook delivery", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return d, fmt.Errorf("webhook delivery %s is no longer dead: %w", id, webhook.ErrConflict)
	}
	return d, nil
}

// PurgeDeliveries implements webhook.Store. An ended delivery's next_ns
// is when it ended (webhook.Delivery.IndexedAt).
func (db *DB) PurgeDeliveries(ctx context.Context, before time.Time) (int, error) {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, opError("purge webhook deliveries", err)
	}
	defer func() { _ = tx.Rollback() }()
	res, err := tx.ExecContext(ctx, "DELETE FROM webhook_deliveries WHERE state IN ('delivered', 'dead') AND next_ns < ?", before.UnixNano())
	if err != nil {
		return 0, opError("purge webhook deliveries", err)
	}
	n, _ := res.RowsAffected()
	if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_events WHERE fanned_out = 1 AND created_ns < ?
		AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)`, before.UnixNano()); err != nil {
		return 0, opError("purge webhook events", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, opError("purge webhook deliveries", err)
	}
	return int(n), nil
}
