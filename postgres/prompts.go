package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwark-ai/bulwark/prompt"
)

var _ prompt.Store = (*DB)(nil)

// NOTIFY topics: the channel of each is named for it and the schema
// (channelName).
const (
	keysTopic    = "bulwark_keys"
	promptsTopic = "bulwark_prompts"
)

// notifyPrompts queues a notification of a change to prompt id on tx,
// delivered when tx commits.
func (db *DB) notifyPrompts(ctx context.Context, tx pgx.Tx, id string) error {
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", channelName(promptsTopic, db.schema), id)
	return err
}

// ListenPrompts calls onChange whenever a prompt, version or label is
// created or changed through any DB on this database and schema, and
// after every (re)connection, so that every replica can reload its
// prompt.Cache within a second. It blocks and reconnects as ListenKeys
// does; the caller owns its goroutine.
func (db *DB) ListenPrompts(ctx context.Context, onChange func(), log *slog.Logger) {
	db.listenLoop(ctx, promptsTopic, "prompt", onChange, log)
}

// CreatePrompt implements prompt.Store.
func (db *DB) CreatePrompt(ctx context.Context, p prompt.Prompt, v prompt.Version) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	tmpl, err := json.Marshal(v.Template)
	if err != nil {
		return fmt.Errorf("create prompt: %w", err)
	}
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO prompts (tenant_id, id, description, latest, created_ns, created_by)
	VALUES ($1, $2, $3, 1, $4, $5)`, p.TenantID, p.ID, p.Description, unixNano(p.CreatedAt), p.CreatedBy); err != nil {
			return err
		}
		if err := insertVersion(ctx, tx, p.TenantID, p.ID, 1, tmpl, v); err != nil {
			return err
		}
		return db.notifyPrompts(ctx, tx, p.ID)
	})
	switch pgCode(err) {
	case codeUniqueViolation:
		return fmt.Errorf("create prompt %q: %w", p.ID, prompt.ErrExists)
	case codeForeignKeyViolation:
		return fmt.Errorf("create prompt: tenant %q: %w", p.TenantID, prompt.ErrNotFound)
	}
	if err != nil {
		return opError("create prompt", err)
	}
	return nil
}

func insertVersion(ctx context.Context, tx pgx.Tx, tenantID, id string, n int, tmpl []byte, v prompt.Version) error {
	_, err := tx.Exec(ctx, `INSERT INTO prompt_versions (tenant_id, prompt_id, version, template, note, created_ns, created_by)
	VALUES ($1, $2, $3, $4, $5, $6, $7)`, tenantID, id, n, string(tmpl), v.Note, unixNano(v.CreatedAt), v.CreatedBy)
	return err
}

// AddPromptVersion implements prompt.Store. Incrementing the prompt's
// latest version locks its row, so versions added at once are numbered
// one after the other.
func (db *DB) AddPromptVersion(ctx context.Context, v prompt.Version) (int, error) {
	if err := db.open(ctx); err != nil {
		return 0, err
	}
	tmpl, err := json.Marshal(v.Template)
	if err != nil {
		return 0, fmt.Errorf("add prompt version: %w", err)
	}
	var n int
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "UPDATE prompts SET latest = latest + 1 WHERE tenant_id = $1 AND id = $2 RETURNING latest",
			v.TenantID, v.PromptID).Scan(&n); err != nil {
			return err
		}
		if err := insertVersion(ctx, tx, v.TenantID, v.PromptID, n, tmpl, v); err != nil {
			return err
		}
		return db.notifyPrompts(ctx, tx, v.PromptID)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("add prompt version: prompt %q: %w", v.PromptID, prompt.ErrNotFound)
	}
	if err != nil {
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
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT p.tenant_id, p.id, p.description, p.latest, p.created_ns, p.created_by,
		l.label, l.version
	FROM prompts p LEFT JOIN prompt_labels l ON l.tenant_id = p.tenant_id AND l.prompt_id = p.id
	WHERE ($1 = '' OR p.tenant_id = $1) AND ($2 = '' OR p.id = $2)
	ORDER BY p.tenant_id COLLATE "C", p.id, l.label`, tenantID, id)
	if err != nil {
		return nil, opError("list prompts", err)
	}
	out := []prompt.Prompt{}
	var p prompt.Prompt
	var created int64
	var label *string
	var version *int
	_, err = pgx.ForEachRow(rows, []any{&p.TenantID, &p.ID, &p.Description, &p.Latest, &created, &p.CreatedBy, &label, &version}, func() error {
		if n := len(out); n > 0 && out[n-1].TenantID == p.TenantID && out[n-1].ID == p.ID {
			out[n-1].Labels[*label] = *version
			return nil
		}
		q := p
		q.CreatedAt, q.Labels = fromUnixNano(created), nil
		if label != nil {
			q.Labels = map[string]int{*label: *version}
		}
		out = append(out, q)
		return nil
	})
	if err != nil {
		return nil, opError("list prompts", err)
	}
	return out, nil
}

// PromptVersion implements prompt.Store.
func (db *DB) PromptVersion(ctx context.Context, tenantID, id string, n int) (prompt.Version, error) {
	vs, err := db.versions(ctx, `WHERE tenant_id = $1 AND prompt_id = $2 AND version = $3`, tenantID, id, n)
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
	return db.versions(ctx, `WHERE ($1 = '' OR tenant_id = $1) AND ($2 = '' OR prompt_id = $2)`, tenantID, id)
}

func (db *DB) versions(ctx context.Context, where string, args ...any) ([]prompt.Version, error) {
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT tenant_id, prompt_id, version, template, note, created_ns, created_by
	FROM prompt_versions `+where+` ORDER BY tenant_id COLLATE "C", prompt_id, version`, args...)
	if err != nil {
		return nil, opError("read prompt versions", err)
	}
	out := []prompt.Version{}
	var v prompt.Version
	var tmpl string
	var created int64
	_, err = pgx.ForEachRow(rows, []any{&v.TenantID, &v.PromptID, &v.Number, &tmpl, &v.Note, &created, &v.CreatedBy}, func() error {
		w := v
		w.Template = prompt.Template{}
		if err := json.Unmarshal([]byte(tmpl), &w.Template); err != nil {
			return fmt.Errorf("stored template of %s version %d: %w", w.PromptID, w.Number, err)
		}
		w.CreatedAt = fromUnixNano(created)
		out = append(out, w)
		return nil
	})
	if err != nil {
		return nil, opError("read prompt versions", err)
	}
	return out, nil
}

// SetPromptLabel implements prompt.Store.
func (db *DB) SetPromptLabel(ctx context.Context, tenantID, id, label string, n int) (int, error) {
	if err := db.open(ctx); err != nil {
		return 0, err
	}
	var prev int
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		// The prompt's row lock orders label moves against each other, so
		// that each reports the version the one before it left.
		var latest int
		if err := tx.QueryRow(ctx, "SELECT latest FROM prompts WHERE tenant_id = $1 AND id = $2 FOR UPDATE", tenantID, id).Scan(&latest); err != nil {
			return err
		}
		if n < 1 || n > latest {
			return pgx.ErrNoRows
		}
		err := tx.QueryRow(ctx, "SELECT version FROM prompt_labels WHERE tenant_id = $1 AND prompt_id = $2 AND label = $3",
			tenantID, id, label).Scan(&prev)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO prompt_labels (tenant_id, prompt_id, label, version, updated_ns) VALUES ($1, $2, $3, $4, $5)
	ON CONFLICT (tenant_id, prompt_id, label) DO UPDATE SET version = excluded.version, updated_ns = excluded.updated_ns`,
			tenantID, id, label, n, time.Now().UnixNano()); err != nil {
			return err
		}
		return db.notifyPrompts(ctx, tx, id)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("prompt %q version %d: %w", id, n, prompt.ErrNotFound)
	}
	if err != nil {
		return 0, opError("set prompt label", err)
	}
	return prev, nil
}

// DeletePromptLabel implements prompt.Store.
func (db *DB) DeletePromptLabel(ctx context.Context, tenantID, id, label string) (int, error) {
	if err := db.open(ctx); err != nil {
		return 0, err
	}
	var n int
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "DELETE FROM prompt_labels WHERE tenant_id = $1 AND prompt_id = $2 AND label = $3 RETURNING version",
			tenantID, id, label).Scan(&n); err != nil {
			return err
		}
		return db.notifyPrompts(ctx, tx, id)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("prompt %q label %q: %w", id, label, prompt.ErrNotFound)
	}
	if err != nil {
		return 0, opError("delete prompt label", err)
	}
	return n, nil
}
