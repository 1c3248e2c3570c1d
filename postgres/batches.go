package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwark-ai/bulwark/batch"
	"github.com/bulwark-ai/bulwark/webhook"
)

var _ batch.Store = (*DB)(nil)

// finalStatuses is the SQL list of the statuses of batches done.
const finalStatuses = "('completed', 'failed', 'expired', 'cancelled')"

// CreateBatch implements batch.Store.
func (db *DB) CreateBatch(ctx context.Context, b batch.Batch, lines []batch.Line) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	data, err := batch.Encode(b)
	if err != nil {
		return fmt.Errorf("create batch: %w", err)
	}
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO batches (id, tenant_id, status, batch) VALUES ($1, $2, $3, $4)",
			b.ID, b.TenantID, string(b.Status), string(data)); err != nil {
			return err
		}
		if err := putEvent(ctx, tx, webhook.BatchEvent(b.TenantID, b.ID, string(b.Status), time.Now())); err != nil {
			return err
		}
		rows := make([][]any, len(lines))
		for i, l := range lines {
			rows[i] = []any{b.ID, int32(l.Index), l.CustomID, l.URL, string(l.Body)}
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"batch_lines"}, []string{"batch_id", "line_index", "custom_id", "url", "body"},
			pgx.CopyFromRows(rows))
		return err
	})
	if pgCode(err) == codeUniqueViolation {
		return fmt.Errorf("batch %s: %w", b.ID, batch.ErrConflict)
	}
	if err != nil {
		return opError("create batch", err)
	}
	return nil
}

// batchCols reads a batch with its counts.
const batchCols = `b.batch::text, (SELECT count(*) FROM batch_lines l WHERE l.batch_id = b.id),
	(SELECT count(*) FROM batch_results r WHERE r.batch_id = b.id AND r.ok),
	(SELECT count(*) FROM batch_results r WHERE r.batch_id = b.id AND NOT r.ok)`

func scanBatch(s pgx.Row) (batch.Batch, error) {
	var data string
	var total, completed, failed int64
	if err := s.Scan(&data, &total, &completed, &failed); err != nil {
		return batch.Batch{}, err
	}
	b, err := batch.Decode([]byte(data))
	if err != nil {
		return b, fmt.Errorf("decode batch: %w", err)
	}
	b.Counts = batch.Counts{Total: int(total), Completed: int(completed), Failed: int(failed)}
	return b, nil
}

// LoadBatch implements batch.Store.
func (db *DB) LoadBatch(ctx context.Context, tenantID, id string) (batch.Batch, error) {
	if err := db.open(ctx); err != nil {
		return batch.Batch{}, err
	}
	b, err := scanBatch(db.pool.QueryRow(ctx, "SELECT "+batchCols+" FROM batches b WHERE b.id = $1 AND b.tenant_id = $2", id, tenantID))
	if errors.Is(err, pgx.ErrNoRows) {
		return b, fmt.Errorf("read batch %s: %w", id, batch.ErrNotFound)
	}
	if err != nil {
		return b, opError("read batch "+id, err)
	}
	return b, nil
}

// ListBatches implements batch.Store.
func (db *DB) ListBatches(ctx context.Context, tenantID string, p batch.Page) ([]batch.Batch, bool, error) {
	if err := db.open(ctx); err != nil {
		return nil, false, err
	}
	q := "SELECT " + batchCols + " FROM batches b WHERE b.tenant_id = $1"
	args := []any{tenantID}
	if p.After != "" {
		q += " AND b.seq < (SELECT seq FROM batches WHERE id = $2 AND tenant_id = $1)"
		args = append(args, p.After)
	}
	args = append(args, p.Limit+1)
	q += fmt.Sprintf(" ORDER BY b.seq DESC LIMIT $%d", len(args))
	out, err := db.batches(ctx, q, args...)
	if err != nil {
		return nil, false, opError("list batches", err)
	}
	more := len(out) > p.Limit
	if more {
		out = out[:p.Limit]
	}
	return out, more, nil
}

func (db *DB) batches(ctx context.Context, q string, args ...any) ([]batch.Batch, error) {
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []batch.Batch
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// UpdateBatch implements batch.Store.
func (db *DB) UpdateBatch(ctx context.Context, b batch.Batch, from ...batch.Status) (bool, error) {
	if err := db.open(ctx); err != nil {
		return false, err
	}
	data, err := batch.Encode(b)
	if err != nil {
		return false, fmt.Errorf("update batch: %w", err)
	}
	statuses := make([]string, len(from))
	for i, s := range from {
		statuses[i] = string(s)
	}
	var n int64
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE batches SET status = $1, batch = $2 WHERE id = $3 AND tenant_id = $4 AND status = ANY($5)",
			string(b.Status), string(data), b.ID, b.TenantID, statuses)
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n > 0 {
			// The webhook event of a batch's end is written with it (the
			// outbox: package webhook).
			return putEvent(ctx, tx, webhook.BatchEvent(b.TenantID, b.ID, string(b.Status), time.Now()))
		}
		return nil
	})
	if err != nil {
		return false, opError("update batch "+b.ID, err)
	}
	return n > 0, nil
}

// ActiveBatches implements batch.Store.
func (db *DB) ActiveBatches(ctx context.Context) ([]batch.Batch, error) {
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	out, err := db.batches(ctx, "SELECT "+batchCols+" FROM batches b WHERE b.status NOT IN "+finalStatuses+" ORDER BY b.seq")
	if err != nil {
		return nil, opError("list active batches", err)
	}
	return out, nil
}

// BatchTodo implements batch.Store.
func (db *DB) BatchTodo(ctx context.Context, batchID string, after, limit int) ([]batch.Line, error) {
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT l.line_index, l.custom_id, l.url, l.body FROM batch_lines l
		WHERE l.batch_id = $1 AND l.line_index > $2
		AND NOT EXISTS (SELECT 1 FROM batch_results r WHERE r.batch_id = l.batch_id AND r.line_index = l.line_index)
		ORDER BY l.line_index LIMIT $3`, batchID, after, limit)
	if err != nil {
		return nil, opError("list batch lines", err)
	}
	defer rows.Close()
	var out []batch.Line
	for rows.Next() {
		var l batch.Line
		var idx int32
		var body string
		if err := rows.Scan(&idx, &l.CustomID, &l.URL, &body); err != nil {
			return nil, opError("list batch lines", err)
		}
		l.Index, l.Body = int(idx), []byte(body)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, opError("list batch lines", err)
	}
	return out, nil
}

// PutBatchResult implements batch.Store.
func (db *DB) PutBatchResult(ctx context.Context, batchID string, r batch.Result) (bool, error) {
	if err := db.open(ctx); err != nil {
		return false, err
	}
	data, err := batch.EncodeResult(r)
	if err != nil {
		return false, fmt.Errorf("store batch result: %w", err)
	}
	tag, err := db.pool.Exec(ctx, `INSERT INTO batch_results (batch_id, line_index, ok, result) VALUES ($1, $2, $3, $4)
		ON CONFLICT (batch_id, line_index) DO NOTHING`, batchID, r.Index, r.OK(), string(data))
	if err != nil {
		return false, opError("store batch result", err)
	}
	return tag.RowsAffected() > 0, nil
}

// BatchResults implements batch.Store.
func (db *DB) BatchResults(ctx context.Context, batchID string, fn func(batch.Result) error) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	rows, err := db.pool.Query(ctx, "SELECT result FROM batch_results WHERE batch_id = $1 ORDER BY line_index", batchID)
	if err != nil {
		return opError("read batch results", err)
	}
	defer rows.Close()
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return opError("read batch results", err)
		}
		r, err := batch.DecodeResult([]byte(data))
		if err != nil {
			return fmt.Errorf("decode batch result: %w", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return opError("read batch results", err)
	}
	return nil
}

// ClaimBatch implements batch.Store. The lease runs by the database's
// clock.
func (db *DB) ClaimBatch(ctx context.Context, batchID, owner string, ttl time.Duration) (bool, error) {
	if err := db.open(ctx); err != nil {
		return false, err
	}
	tag, err := db.pool.Exec(ctx, `UPDATE batches SET lease_owner = $2, lease_until = clock_timestamp() + $3 * interval '1 microsecond'
		WHERE id = $1 AND status NOT IN `+finalStatuses+` AND (lease_owner = $2 OR lease_until < clock_timestamp())`,
		batchID, owner, ttl.Microseconds())
	if err != nil {
		return false, opError("claim batch", err)
	}
	return tag.RowsAffected() > 0, nil
}

// ReleaseBatch implements batch.Store.
func (db *DB) ReleaseBatch(ctx context.Context, batchID, owner string) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	_, err := db.pool.Exec(ctx, "UPDATE batches SET lease_owner = '', lease_until = '-infinity' WHERE id = $1 AND lease_owner = $2", batchID, owner)
	if err != nil {
		return opError("release batch", err)
	}
	return nil
}
