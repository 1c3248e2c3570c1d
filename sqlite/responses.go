package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-ai/bulwark/responses"
)

var _ responses.Store = (*DB)(nil)

// SaveResponse implements responses.Store.
func (db *DB) SaveResponse(ctx context.Context, r *responses.Stored) error {
	_, err := db.db.ExecContext(ctx, `INSERT INTO responses (id, tenant_id, model, created_at, expires_at, input, output, response)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.TenantID, r.Model, formatTime(r.CreatedAt), formatTime(r.ExpiresAt), string(r.Input), string(r.Output), string(r.Response))
	if err != nil {
		return opError("save response "+r.ID, err)
	}
	return nil
}

// Response implements responses.Store.
func (db *DB) Response(ctx context.Context, tenantID, id string, now time.Time) (*responses.Stored, error) {
	r := responses.Stored{ID: id, TenantID: tenantID}
	var created, expires, input, output, resp string
	err := db.db.QueryRowContext(ctx, `SELECT model, created_at, expires_at, input, output, response FROM responses
	WHERE id = ? AND tenant_id = ? AND expires_at > ?`, id, tenantID, formatTime(now)).
		Scan(&r.Model, &created, &expires, &input, &output, &resp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, responses.ErrNotFound
	}
	if err != nil {
		return nil, opError("read response "+id, err)
	}
	if r.CreatedAt, err = parseTime(created); err != nil {
		return nil, fmt.Errorf("read response %s: %w", id, err)
	}
	if r.ExpiresAt, err = parseTime(expires); err != nil {
		return nil, fmt.Errorf("read response %s: %w", id, err)
	}
	r.Input, r.Output, r.Response = []byte(input), []byte(output), []byte(resp)
	return &r, nil
}

// DeleteResponse implements responses.Store.
func (db *DB) DeleteResponse(ctx context.Context, tenantID, id string) error {
	res, err := db.db.ExecContext(ctx, "DELETE FROM responses WHERE id = ? AND tenant_id = ?", id, tenantID)
	if err != nil {
		return opError("delete response "+id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return opError("delete response "+id, err)
	} else if n == 0 {
		return responses.ErrNotFound
	}
	return nil
}

// PurgeResponses implements responses.Store.
func (db *DB) PurgeResponses(ctx context.Context, now time.Time) (int, error) {
	res, err := db.db.ExecContext(ctx, "DELETE FROM responses WHERE expires_at <= ?", formatTime(now))
	if err != nil {
		return 0, opError("purge responses", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, opError("purge responses", err)
	}
	return int(n), nil
}
