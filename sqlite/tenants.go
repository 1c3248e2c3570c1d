package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-ai/bulwark/tenant"
)

var _ tenant.Store = (*DB)(nil)

// CreateTenant implements tenant.Store.
func (db *DB) CreateTenant(ctx context.Context, t tenant.Tenant) error {
	aliases, tags, err := marshalAttributes(t.Attributes)
	if err != nil {
		return opError("create tenant", err)
	}
	_, err = db.db.ExecContext(ctx, `INSERT INTO tenants (id, name, created_at, requests_per_minute, tokens_per_minute, concurrent,
	 aliases, priority, tags, tools)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Name, formatTime(t.CreatedAt), t.Limits.RequestsPerMinute, t.Limits.TokensPerMinute, t.Limits.Concurrent,
		aliases, t.Priority, tags, toolsJSON(t.Tools))
	if isUnique(err) {
		return tenant.ErrExists
	}
	if err != nil {
		return opError("create tenant", err)
	}
	return nil
}

// Tenant implements tenant.Store.
func (db *DB) Tenant(ctx context.Context, id string) (tenant.Tenant, error) {
	row := db.db.QueryRowContext(ctx, "SELECT "+tenantColumns+" FROM tenants WHERE id = ?", id)
	t, err := scanTenant(row)
	if errors.Is(err, sql.ErrNoRows) {
		return tenant.Tenant{}, tenant.ErrNotFound
	}
	if err != nil {
		return tenant.Tenant{}, opError("get tenant", err)
	}
	return t, nil
}

// Tenants implements tenant.Store.
func (db *DB) Tenants(ctx context.Context) ([]tenant.Tenant, error) {
	rows, err := db.db.QueryContext(ctx, "SELECT "+tenantColumns+" FROM tenants ORDER BY id")
	if err != nil {
		return nil, opError("list tenants", err)
	}
	defer rows.Close()
	out := []tenant.Tenant{}
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, opError("list tenants", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, opError("list tenants", err)
	}
	return out, nil
}

type scanner interface{ Scan(dest ...any) error }

const tenantColumns = "id, name, created_at, requests_per_minute, tokens_per_minute, concurrent, aliases, priority, tags, tools"

func scanTenant(s scanner) (tenant.Tenant, error) {
	var t tenant.Tenant
	var created, aliases, tags, tools string
	l := &t.Limits
	if err := s.Scan(&t.ID, &t.Name, &created, &l.RequestsPerMinute, &l.TokensPerMinute, &l.Concurrent,
		&aliases, &t.Priority, &tags, &tools); err != nil {
		return tenant.Tenant{}, err
	}
	if err := unmarshalAttributes(&t.Attributes, aliases, tags, tools); err != nil {
		return tenant.Tenant{}, fmt.Errorf("tenant %s: %w", t.ID, err)
	}
	var err error
	t.CreatedAt, err = parseTime(created)
	return t, err
}

// marshalAttributes encodes the maps of a as the JSON objects the tables
// hold; an empty map is "{}".
func marshalAttributes(a tenant.Attributes) (aliases, tags string, err error) {
	enc := func(m map[string]string) (string, error) {
		if len(m) == 0 {
			return "{}", nil
		}
		b, err := json.Marshal(m)
		return string(b), err
	}
	if aliases, err = enc(a.Aliases); err != nil {
		return "", "", err
	}
	tags, err = enc(a.Tags)
	return aliases, tags, err
}

// unmarshalAttributes decodes stored maps into a; an empty object is a
// nil map.
func unmarshalAttributes(a *tenant.Attributes, aliases, tags, tools string) error {
	if err := json.Unmarshal([]byte(tools), &a.Tools); err != nil {
		return fmt.Errorf("stored tools: %w", err)
	}
	if len(a.Tools) == 0 {
		a.Tools = nil
	}
	for _, f := range []struct {
		what string
		s    string
		m    *map[string]string
	}{{"aliases", aliases, &a.Aliases}, {"tags", tags, &a.Tags}} {
		if err := json.Unmarshal([]byte(f.s), f.m); err != nil {
			return fmt.Errorf("stored %s: %w", f.what, err)
		}
		if len(*f.m) == 0 {
			*f.m = nil
		}
	}
	return nil
}

// toolsJSON encodes a tool allowlist as the JSON array the tables hold;
// an empty one is "[]".
func toolsJSON(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, err := json.Marshal(l)
	if err != nil {
		panic(err) // a list of strings always marshals
	}
	return string(b)
}

// CreateKey implements tenant.Store.
func (db *DB) CreateKey(ctx context.Context, k tenant.Key) error {
	models := k.Models
	if models == nil {
		models = []string{}
	}
	mj, err := json.Marshal(models)
	if err != nil {
		return opError("create key", err)
	}
	aliases, tags, err := marshalAttributes(k.Attributes)
	if err != nil {
		return opError("create key", err)
	}
	_, err = db.db.ExecContext(ctx, `INSERT INTO keys
	(id, tenant_id, name, prefix, hash, admin, models, created_at, expires_at, revoked_at,
	 requests_per_minute, tokens_per_minute, concurrent, aliases, priority, tags, tools)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.TenantID, k.Name, k.Prefix, k.Hash, k.Admin, string(mj),
		formatTime(k.CreatedAt), formatTimePtr(k.ExpiresAt), formatTimePtr(k.RevokedAt),
		k.Limits.RequestsPerMinute, k.Limits.TokensPerMinute, k.Limits.Concurrent,
		aliases, k.Priority, tags, toolsJSON(k.Tools))
	switch {
	case isUnique(err):
		return tenant.ErrExists
	case isForeignKey(err):
		return tenant.ErrNotFound
	case err != nil:
		return opError("create key", err)
	}
	return nil
}

const keyColumns = "id, tenant_id, name, prefix, hash, admin, models, created_at, expires_at, revoked_at, " +
	"requests_per_minute, tokens_per_minute, concurrent, aliases, priority, tags, tools"

// Keys implements tenant.Store.
func (db *DB) Keys(ctx context.Context, tenantID string) ([]tenant.Key, error) {
	var rows *sql.Rows
	var err error
	if tenantID == "" {
		rows, err = db.db.QueryContext(ctx, "SELECT "+keyColumns+" FROM keys ORDER BY created_at, id")
	} else {
		rows, err = db.db.QueryContext(ctx, "SELECT "+keyColumns+" FROM keys WHERE tenant_id = ? ORDER BY created_at, id", tenantID)
	}
	if err != nil {
		return nil, opError("list keys", err)
	}
	defer rows.Close()
	out := []tenant.Key{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, opError("list keys", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, opError("list keys", err)
	}
	return out, nil
}

func scanKey(s scanner) (tenant.Key, error) {
	var k tenant.Key
	var models, created, aliases, tags, tools string
	var expires, revoked sql.NullString
	if err := s.Scan(&k.ID, &k.TenantID, &k.Name, &k.Prefix, &k.Hash, &k.Admin, &models,
		&created, &expires, &revoked,
		&k.Limits.RequestsPerMinute, &k.Limits.TokensPerMinute, &k.Limits.Concurrent,
		&aliases, &k.Priority, &tags, &tools); err != nil {
		return tenant.Key{}, err
	}
	if err := unmarshalAttributes(&k.Attributes, aliases, tags, tools); err != nil {
		return tenant.Key{}, fmt.Errorf("key %s: %w", k.ID, err)
	}
	if err := json.Unmarshal([]byte(models), &k.Models); err != nil {
		return tenant.Key{}, fmt.Errorf("key %s: stored models: %w", k.ID, err)
	}
	if len(k.Models) == 0 {
		k.Models = nil
	}
	var err error
	if k.CreatedAt, err = parseTime(created); err != nil {
		return tenant.Key{}, err
	}
	if k.ExpiresAt, err = parseTimePtr(expires); err != nil {
		return tenant.Key{}, err
	}
	if k.RevokedAt, err = parseTimePtr(revoked); err != nil {
		return tenant.Key{}, err
	}
	return k, nil
}

// RevokeKey implements tenant.Store.
func (db *DB) RevokeKey(ctx context.Context, id string, at time.Time) error {
	res, err := db.db.ExecContext(ctx, "UPDATE keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
		formatTime(at), id)
	if err != nil {
		return opError("revoke key", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return opError("revoke key", err)
	}
	if n == 0 {
		return tenant.ErrNotFound
	}
	return nil
}

// SetTenantLimits implements tenant.Store.
func (db *DB) SetTenantLimits(ctx context.Context, id string, l tenant.Limits) error {
	return db.setLimits(ctx, "tenants", id, l)
}

// SetKeyLimits implements tenant.Store.
func (db *DB) SetKeyLimits(ctx context.Context, id string, l tenant.Limits) error {
	return db.setLimits(ctx, "keys", id, l)
}

// SetTenantAttributes implements tenant.Store.
func (db *DB) SetTenantAttributes(ctx context.Context, id string, a tenant.Attributes) error {
	return db.setAttributes(ctx, "tenants", id, a)
}

// SetKeyAttributes implements tenant.Store.
func (db *DB) SetKeyAttributes(ctx context.Context, id string, a tenant.Attributes) error {
	return db.setAttributes(ctx, "keys", id, a)
}

// setAttributes sets the attributes of the row id of table, which is a
// constant.
func (db *DB) setAttributes(ctx context.Context, table, id string, a tenant.Attributes) error {
	aliases, tags, err := marshalAttributes(a)
	if err != nil {
		return opError("set attributes", err)
	}
	res, err := db.db.ExecContext(ctx, "UPDATE "+table+" SET aliases = ?, priority = ?, tags = ?, tools = ? WHERE id = ?",
		aliases, a.Priority, tags, toolsJSON(a.Tools), id)
	if err != nil {
		return opError("set attributes", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return opError("set attributes", err)
	}
	if n == 0 {
		return tenant.ErrNotFound
	}
	return nil
}

// setLimits sets the limits of the row id of table, which is a constant.
func (db *DB) setLimits(ctx context.Context, table, id string, l tenant.Limits) error {
	res, err := db.db.ExecContext(ctx, "UPDATE "+table+
		" SET requests_per_minute = ?, tokens_per_minute = ?, concurrent = ? WHERE id = ?",
		l.RequestsPerMinute, l.TokensPerMinute, l.Concurrent, id)
	if err != nil {
		return opError("set limits", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return opError("set limits", err)
	}
	if n == 0 {
		return tenant.ErrNotFound
	}
	return nil
}
