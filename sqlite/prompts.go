package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-ai/bulwark/prompt"
)

var _ prompt.Store = (*DB)(nil)

// CreatePrompt implements prompt.Store.
func (db *DB) CreatePrompt(ctx context.Context, p prompt.Prompt, v prompt.Version) error {
	tmpl, err := json.Marshal(v.Template)
	if err != nil {
		return fmt.Errorf("create prompt: %w", err)
	}
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return opError("create prompt", err)
	}
	defer func() { _ = tx.Rollback() }()
	var exists int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM tenants WHERE id = ?", p.TenantID).Scan(&exists); err != nil {
		return opError("create prompt", err)
	}
	if exists == 0 {
		return fmt.Errorf("create prompt: tenant %q: %w", p.TenantID, prompt.ErrNotFound)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO prompts (tenant_id, id, description, latest, created_at, created_by)
	VALUES (?, ?, ?, 1, ?, ?)`, p.TenantID, p.ID, p.Description, formatTime(p.CreatedAt), p.CreatedBy)
	if isUnique(err) {
		return fmt.Errorf("create prompt %q: %w", p.ID, prompt.ErrExists)
	}
	if err != nil {
		return opError("create prompt", err)
	}
	if err := insertVersion(ctx, tx, p.TenantID, p.ID, 1, tmpl, v); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return opError("create prompt", err)
	}
	return nil
}

func insertVersion(ctx context.Context, tx *sql.Tx, tenantID, id string, n int, tmpl []byte, v prompt.Version) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO prompt_versions (tenant_id, prompt_id, version, template, note, created_at, created_by)
	VALUES (?, ?, ?, ?, ?, ?, ?)`, tenantID, id, n, string(tmpl), v.Note, formatTime(v.CreatedAt), v.CreatedBy)
	if err != nil {
		return opError("store prompt version", err)
	}
	return nil
}

// AddPromptVersion implements prompt.Store. Write transactions take the
// database's write lock up front, so versions added at once are numbered
// one after the other.
func (db *DB) AddPromptVersion(ctx context.Context, v prompt.Version) (int, error) {
	tmpl, err := json.Marshal(v.Template)
	if err != nil {
		return 0, fmt.Errorf("add prompt version: %w", err)
	}
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, opError("add prompt version", err)
	}
	defer func() { _ = tx.Rollback() }()
	var n int
	err = tx.QueryRowContext(ctx, "UPDATE prompts SET latest = latest + 1 WHERE tenant_id = ? AND id = ? RETURNING latest",
		v.TenantID, v.PromptID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("add prompt version: prompt %q: %w", v.PromptID, prompt.ErrNotFound)
	}
	if err != nil {
		return 0, opError("add prompt version", err)
	}
	if err := insertVersion(ctx, tx, v.TenantID, v.PromptID, n, tmpl, v); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, opError("add prompt version", err)
	}
	return n, nil
}

// Prompt implements prompt.Store.
func (db *DB) Prompt(ctx context.Context, tenantID, id string) (prompt.Prompt, error) {
	ps, err := db.prompts(ctx, tenantID, id)
	if err != nil {
		return prompt.Prompt{}, err
	}
	if len(ps) == 0 {
		return prompt.Prompt{}, fmt.Errorf("prompt %q: %w", id, prompt.ErrNotFound)
	}
	return ps[0], nil
}

// Prompts implements prompt.Store.
func (db *DB) Prompts(ctx context.Context, tenantID string) ([]prompt.Prompt, error) {
	return db.prompts(ctx, tenantID, "")
}

// prompts lists prompts with their labels; empty tenantID and id match
// every one.
func (db *DB) prompts(ctx context.Context, tenantID, id string) ([]prompt.Prompt, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT p.tenant_id, p.id, p.description, p.latest, p.created_at, p.created_by,
		l.label, l.version
	FROM prompts p LEFT JOIN prompt_labels l ON l.tenant_id = p.tenant_id AND l.prompt_id = p.id
	WHERE (? = '' OR p.tenant_id = ?) AND (? = '' OR p.id = ?)
	ORDER BY p.tenant_id, p.id, l.label`, tenantID, tenantID, id, id)
	if err != nil {
		return nil, opError("list prompts", err)
	}
	defer rows.Close()
	out := []prompt.Prompt{}
	for rows.Next() {
		var p prompt.Prompt
		var created string
		var label sql.NullString
		var version sql.NullInt64
		if err := rows.Scan(&p.TenantID, &p.ID, &p.Description, &p.Latest, &created, &p.CreatedBy, &label, &version); err != nil {
			return nil, opError("list prompts", err)
		}
		if n := len(out); n > 0 && out[n-1].TenantID == p.TenantID && out[n-1].ID == p.ID {
			out[n-1].Labels[label.String] = int(version.Int64)
			continue
		}
		if p.CreatedAt, err = parseTime(created); err != nil {
			return nil, opError("list prompts", err)
		}
		if label.Valid {
			p.Labels = map[string]int{label.String: int(version.Int64)}
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, opError("list prompts", err)
	}
	return out, nil
}

// PromptVersion implements prompt.Store.
func (db *DB) PromptVersion(ctx context.Context, tenantID, id string, n int) (prompt.Version, error) {
	vs, err := db.versions(ctx, `WHERE tenant_id = ? AND prompt_id = ? AND version = ?`, tenantID, id, n)
	if err != nil {
		return prompt.Version{}, err
	}
	if len(vs) == 0 {
		return prompt.Version{}, fmt.Errorf("prompt %q version %d: %w", id, n, prompt.ErrNotFound)
	}
	return vs[0], nil
}

// PromptVersions implements prompt.Store.
func (db *DB) PromptVersions(ctx context.Context, tenantID, id string) ([]prompt.Version, error) {
	return db.versions(ctx, `WHERE (? = '' OR tenant_id = ?) AND (? = '' OR prompt_id = ?)`, tenantID, tenantID, id, id)
}

func (db *DB) versions(ctx context.Context, where string, args ...any) ([]prompt.Version, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT tenant_id, prompt_id, version, template, note, created_at, created_by
	FROM prompt_versions `+where+` ORDER BY tenant_id, prompt_id, version`, args...)
	if err != nil {
		return nil, opError("read prompt versions", err)
	}
	defer rows.Close()
	out := []prompt.Version{}
	for rows.Next() {
		var v prompt.Version
		var tmpl, created string
		if err := rows.Scan(&v.TenantID, &v.PromptID, &v.Number, &tmpl, &v.Note, &created, &v.CreatedBy); err != nil {
			return nil, opError("read prompt versions", err)
		}
		if err := json.Unmarshal([]byte(tmpl), &v.Template); err != nil {
			return nil, fmt.Errorf("read prompt versions: stored template of %s version %d: %w", v.PromptID, v.Number, err)
		}
		if v.CreatedAt, err = parseTime(created); err != nil {
			return nil, opError("read prompt versions", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, opError("read prompt versions", err)
	}
	return out, nil
}

// SetPromptLabel implements prompt.Store.
func (db *DB) SetPromptLabel(ctx context.Context, tenantID, id, label string, n int) (int, error) {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, opError("set prompt label", err)
	}
	defer func() { _ = tx.Rollback() }()
	var found int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM prompt_versions WHERE tenant_id = ? AND prompt_id = ? AND version = ?",
		tenantID, id, n).Scan(&found); err != nil {
		return 0, opError("set prompt label", err)
	}
	if found == 0 {
		return 0, fmt.Errorf("prompt %q version %d: %w", id, n, prompt.ErrNotFound)
	}
	prev, err := labelVersion(ctx, tx, tenantID, id, label)
	if err != nil {
		return 0, opError("set prompt label", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO prompt_labels (tenant_id, prompt_id, label, version, updated_at) VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (tenant_id, prompt_id, label) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
		tenantID, id, label, n, formatTime(time.Now()))
	if err != nil {
		return 0, opError("set prompt label", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, opError("set prompt label", err)
	}
	return prev, nil
}

// labelVersion is the version label points at, 0 when none.
func labelVersion(ctx context.Context, tx *sql.Tx, tenantID, id, label string) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, "SELECT version FROM prompt_labels WHERE tenant_id = ? AND prompt_id = ? AND label = ?",
		tenantID, id, label).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

// DeletePromptLabel implements prompt.Store.
func (db *DB) DeletePromptLabel(ctx context.Context, tenantID, id, label string) (int, error) {
	var n int
	err := db.db.QueryRowContext(ctx, "DELETE FROM prompt_labels WHERE tenant_id = ? AND prompt_id = ? AND label = ? RETURNING version",
		tenantID, id, label).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("prompt %q label %q: %w", id, label, prompt.ErrNotFound)
	}
	if err != nil {
		return 0, opError("delete prompt label", err)
	}
	return n, nil
}
