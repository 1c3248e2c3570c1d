package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/batch"
	"github.com/bulwark-ai/bulwark/webhook"
)

var _ batch.Store = (*DB)(nil)

// finalStatuses is the SQL list of the statuses of batches done.
const finalStatuses = "('completed', 'failed', 'expired', 'cancelled')"

// CreateBatch implements batch.Store.
func (db *DB) CreateBatch(ctx context.Context, b batch.Batch, lines []batch.Line) error {
	data, err := batch.Encode(b)
	if err != nil {
		return fmt.Errorf("create batch: %w", err)
	}
	return db.tx(ctx, "create batch", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO batches (id, tenant_id, status, batch) VALUES (?, ?, ?, ?)",
			b.ID, b.TenantID, string(b.Status), string(data)); err != nil {
			if isUnique(err) {
				return fmt.Errorf("batch %s: %w", b.ID, batch.ErrConflict)
			}
			return err
		}
		if err := putEvent(ctx, tx, webhook.BatchEvent(b.TenantID, b.ID, string(b.Status), time.Now())); err != nil {
			return err
		}
		st, err := tx.PrepareContext(ctx, "INSERT INTO batch_lines (batch_id, line_index, custom_id, url, body) VALUES (?, ?, ?, ?, ?)")
		if err != nil {
			return err
		}
		defer st.Close()
		for _, l := range lines {
			if _, err := st.ExecContext(ctx, b.ID, l.Index, l.CustomID, l.URL, string(l.Body)); err != nil {
				return err
			}
		}
		return nil
	})
}

// batchCols reads a batch with its counts.
const batchCols = `b.batch, (SELECT count(*) FROM batch_lines l WHERE l.batch_id = b.id),
	(SELECT count(*) FROM batch_results r WHERE r.batch_id = b.id AND r.ok = 1),
	(SELECT count(*) FROM batch_results r WHERE r.batch_id = b.id AND r.ok = 0)`

func scanBatch(s interface{ Scan(...any) error }) (batch.Batch, error) {
	var data string
	var c batch.Counts
	if err := s.Scan(&data, &c.Total, &c.Completed, &c.Failed); err != nil {
		return batch.Batch{}, err
	}
	b, err := batch.Decode([]byte(data))
	if err != nil {
		return b, fmt.Errorf("decode batch: %w", err)
	}
	b.Counts = c
	return b, nil
}

// LoadBatch implements batch.Store.
func (db *DB) LoadBatch(ctx context.Context, tenantID, id string) (batch.Batch, error) {
	b, err := scanBatch(db.db.QueryRowContext(ctx, "SELECT "+batchCols+" FROM batches b WHERE b.id = ? AND b.tenant_id = ?", id, tenantID))
	if errors.Is(err, sql.ErrNoRows) {
		return b, fmt.Errorf("read batch %s: %w", id, batch.ErrNotFound)
	}
	if err != nil {
		return b, opError("read batch "+id, err)
	}
	return b, nil
}

// ListBatches implements batch.Store.
func (db *DB) ListBatches(ctx context.Context, tenantID string, p batch.Page) ([]batch.Batch, bool, error) {
	q := "SELECT " + batchCols + " FROM batches b WHERE b.tenant_id = ?"
	args := []any{tenantID}
	if p.After != "" {
		q += " AND b.rowid < (SELECT rowid FROM batches WHERE id = ? AND tenant_id = ?)"
		args = append(args, p.After, tenantID)
	}
	q += " ORDER BY b.rowid DESC LIMIT ?"
	args = append(args, p.Limit+1)
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
	rows, err := db.db.QueryContext(ctx, q, args...)
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
	data, err := batch.Encode(b)
	if err != nil {
		return false, fmt.Errorf("update batch: %w", err)
	}
	if len(from) == 0 {
		return false, nil
	}
	args := []any{string(b.Status), string(data), b.ID, b.TenantID}
	for _, s := range from {
		args = append(args, string(s))
	}
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return false, opError("update batch "+b.ID, err)
	}
	defer func() { _ = tx.Rollback() }()
	res, err := tx.ExecContext(ctx, "UPDATE batches SET status = ?, batch = ? WHERE id = ? AND tenant_id = ? AND status IN (?"+
		strings.Repeat(", ?", len(from)-1)+")", args...)
	if err != nil {
		return false, opError("update batch "+b.ID, err)
	}
	n, _ := res.RowsAffected()
	if n > 0 {
		// The webhook event of a batch's end is written with it (the
		// outbox: package webhook).
		if err := putEvent(ctx, tx, webhook.BatchEvent(b.TenantID, b.ID, string(b.Status), time.Now())); err != nil {
			return false, opError("record batch event", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, opError("update batch "+b.ID, err)
	}
	return n > 0, nil
}

// ActiveBatches implements batch.Store.
func (db *DB) ActiveBatches(ctx context.Context) ([]batch.Batch, error) {
	out, err := db.batches(ctx, "SELECT "+batchCols+" FROM batches b WHERE b.status NOT IN "+finalStatuses+" ORDER BY b.rowid")
	if err != nil {
		return nil, opError("list active batches", err)
	}
	return out, nil
}

// BatchTodo implements batch.Store.
func (db *DB) BatchTodo(ctx context.Context, batchID string, after, limit int) ([]batch.Line, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT l.line_index, l.custom_id, l.url, l.body FROM batch_lines l
		WHERE l.batch_id = ? AND l.line_index > ?
		AND NOT EXISTS (SELECT 1 FROM batch_results r WHERE r.batch_id = l.batch_id AND r.line_index = l.line_index)
		ORDER BY l.line_index LIMIT ?`, batchID, after, limit)
	if err != nil {
		return nil, opError("list batch lines", err)
	}
	defer rows.Close()
	var out []batch.Line
	for rows.Next() {
		var l batch.Line
		var body string
		if err := rows.Scan(&l.Index, &l.CustomID, &l.URL, &body); err != nil {
			return nil, opError("list batch lines", err)
		}
		l.Body = []byte(body)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, opError("list batch lines", err)
	}
	return out, nil
}

// PutBatchResult implements batch.Store.
func (db *DB) PutBatchResult(ctx context.Context, batchID string, r batch.Result) (bool, error) {
	data, err := batch.EncodeResult(r)
	if err != nil {
		return false, fmt.Errorf("store batch result: %w", err)
	}
	res, err := db.db.ExecContext(ctx, `INSERT INTO batch_results (batch_id, line_index, ok, result) VALUES (?, ?, ?, ?)
		ON CONFLICT (batch_id, line_index) DO NOTHING`, batchID, r.Index, r.OK(), string(data))
	if err != nil {
		return false, opError("store batch result", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// BatchResults implements batch.Store.
func (db *DB) BatchResults(ctx context.Context, batchID string, fn func(batch.Result) error) error {
	rows, err := db.db.QueryContext(ctx, "SELECT result FROM batch_results WHERE batch_id = ? ORDER BY line_index", batchID)
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

// ClaimBatch implements batch.Store.
func (db *DB) ClaimBatch(ctx context.Context, batchID, owner string, ttl time.Duration) (bool, error) {
	now := time.Now().UnixNano()
	res, err := db.db.ExecContext(ctx, `UPDATE batches SET lease_owner = ?, lease_until_ns = ?
		WHERE id = ? AND status NOT IN `+finalStatuses+` AND (lease_owner = ? OR lease_until_ns < ?)`,
		owner, now+int64(ttl), batchID, owner, now)
	if err != nil {
		return false, opError("claim batch", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// ReleaseBatch implements batch.Store.
func (db *DB) ReleaseBatch(ctx context.Context, batchID, owner string) error {
	_, err := db.db.ExecContext(ctx, "UPDATE batches SET lease_owner = '', lease_until_ns = 0 WHERE id = ? AND lease_owner = ?", batchID, owner)
	if err != nil {
		return opError("release batch", err)
	}
	return nil
}
