package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwark-ai/bulwark/responses"
)

var _ responses.Store = (*DB)(nil)

// SaveResponse implements responses.Store.
func (db *DB) SaveResponse(ctx context.Context, r *responses.Stored) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO responses (id, tenant_id, model, created_at, expires_at, input, output, response)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		r.ID, r.TenantID, r.Model, r.CreatedAt, r.ExpiresAt, string(r.Input), string(r.Output), string(r.Response))
	if err != nil {
		return opError("save response "+r.ID, err)
	}
	return nil
}

// Response implements responses.Store.
func (db *DB) Response(ctx context.Context, tenantID, id string, now time.Time) (*responses.Stored, error) {
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	r := responses.Stored{ID: id, TenantID: tenantID}
	var input, output, resp string
	err := db.pool.QueryRow(ctx, `SELECT model, created_at, expires_at, input, output, response FROM responses
	WHERE id = $1 AND tenant_id = $2 AND expires_at > $3`, id, tenantID, now).
		Scan(&r.Model, &r.CreatedAt, &r.ExpiresAt, &input, &output, &resp)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, responses.ErrNotFound
	}
	if err != nil {
		return nil, opError("read response "+id, err)
	}
	r.CreatedAt, r.ExpiresAt = r.CreatedAt.UTC(), r.ExpiresAt.UTC()
	r.Input, r.Output, r.Response = []byte(input), []byte(output), []byte(resp)
	return &r, nil
}

// DeleteResponse implements responses.Store.
func (db *DB) DeleteResponse(ctx context.Context, tenantID, id string) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	tag, err := db.pool.Exec(ctx, "DELETE FROM responses WHERE id = $1 AND tenant_id = $2", id, tenantID)
	if err != nil {
		return opError("delete response "+id, err)
	}
	if tag.RowsAffected() == 0 {
		return responses.ErrNotFound
	}
	return nil
}

// PurgeResponses implements responses.Store.
func (db *DB) PurgeResponses(ctx context.Context, now time.Time) (int, error) {
	if err := db.open(ctx); err != nil {
		return 0, err
	}
	tag, err := db.pool.Exec(ctx, "DELETE FROM responses WHERE expires_at <= $1", now)
	if err != nil {
		return 0, opError("purge responses", err)
	}
	return int(tag.RowsAffected()), nil
}
