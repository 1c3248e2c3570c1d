package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwark-ai/bulwark/tenant"
)

var _ tenant.Store = (*DB)(nil)

// CreateTenant implements tenant.Store.
func (db *DB) CreateTenant(ctx context.Context, t tenant.Tenant) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO tenants (id, name, created_ns, requests_per_minute, tokens_per_minute, concurrent,
	 aliases, priority, tags, tools)
	VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::jsonb, $10::jsonb)`,
		t.ID, t.Name, unixNano(t.CreatedAt), t.Limits.RequestsPerMinute, t.Limits.TokensPerMinute, t.Limits.Concurrent,
		jsonbObject(t.Aliases), t.Priority, jsonbObject(t.Tags), jsonbArray(t.Tools))
	if pgCode(err) == codeUniqueViolation {
		return tenant.ErrExists
	}
	if err != nil {
		return opError("create tenant", err)
	}
	return nil
}

const tenantColumns = "id, name, created_ns, requests_per_minute, tokens_per_minute, concurrent, aliases, priority, tags, tools"

// Tenant implements tenant.Store.
func (db *DB) Tenant(ctx context.Context, id string) (tenant.Tenant, error) {
	if err := db.open(ctx); err != nil {
		return tenant.Tenant{}, err
	}
	var t tenant.Tenant
	var created int64
	err := db.pool.QueryRow(ctx, "SELECT "+tenantColumns+" FROM tenants WHERE id = $1", id).
		Scan(&t.ID, &t.Name, &created, &t.Limits.RequestsPerMinute, &t.Limits.TokensPerMinute, &t.Limits.Concurrent,
			&t.Aliases, &t.Priority, &t.Tags, &t.Tools)
	if errors.Is(err, pgx.ErrNoRows) {
		return tenant.Tenant{}, tenant.ErrNotFound
	}
	if err != nil {
		return tenant.Tenant{}, opError("get tenant", err)
	}
	t.CreatedAt = fromUnixNano(created)
	t.Attributes = t.Attributes.Clone()
	return t, nil
}

// Tenants implements tenant.Store.
func (db *DB) Tenants(ctx context.Context) ([]tenant.Tenant, error) {
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, "SELECT "+tenantColumns+` FROM tenants ORDER BY id COLLATE "C"`)
	if err != nil {
		return nil, opError("list tenants", err)
	}
	out := []tenant.Tenant{}
	var t tenant.Tenant
	var created int64
	_, err = pgx.ForEachRow(rows, []any{&t.ID, &t.Name, &created,
		&t.Limits.RequestsPerMinute, &t.Limits.TokensPerMinute, &t.Limits.Concurrent,
		&t.Aliases, &t.Priority, &t.Tags, &t.Tools}, func() error {
		tn := t
		tn.CreatedAt = fromUnixNano(created)
		tn.Attributes = tn.Attributes.Clone()
		out = append(out, tn)
		t.Aliases, t.Tags, t.Tools = nil, nil, nil // scan the next row into fresh maps
		return nil
	})
	if err != nil {
		return nil, opError("list tenants", err)
	}
	return out, nil
}

// CreateKey implements tenant.Store. Listeners (ListenKeys) are notified
// when the transaction commits.
func (db *DB) CreateKey(ctx context.Context, k tenant.Key) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	models := k.Models
	if models == nil {
		models = []string{}
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO keys
	(id, tenant_id, name, prefix, hash, admin, models, created_ns, expires_ns, revoked_ns,
	 requests_per_minute, tokens_per_minute, concurrent, aliases, priority, tags, tools)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15, $16::jsonb, $17::jsonb)`,
			k.ID, k.TenantID, k.Name, k.Prefix, k.Hash, k.Admin, models,
			unixNano(k.CreatedAt), unixNanoPtr(k.ExpiresAt), unixNanoPtr(k.RevokedAt),
			k.Limits.RequestsPerMinute, k.Limits.TokensPerMinute, k.Limits.Concurrent,
			jsonbObject(k.Aliases), k.Priority, jsonbObject(k.Tags), jsonbArray(k.Tools)); err != nil {
			return err
		}
		return db.notifyKeys(ctx, tx, k.ID)
	})
	switch pgCode(err) {
	case codeUniqueViolation:
		return tenant.ErrExists
	case codeForeignKeyViolation:
		return tenant.ErrNotFound
	}
	if err != nil {
		return opError("create key", err)
	}
	return nil
}

const keyColumns = "id, tenant_id, name, prefix, hash, admin, models, created_ns, expires_ns, revoked_ns, " +
	"requests_per_minute, tokens_per_minute, concurrent, aliases, priority, tags, tools"

// Keys implements tenant.Store.
func (db *DB) Keys(ctx context.Context, tenantID string) ([]tenant.Key, error) {
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	var rows pgx.Rows
	var err error
	const order = ` ORDER BY created_ns, id COLLATE "C"`
	if tenantID == "" {
		rows, err = db.pool.Query(ctx, "SELECT "+keyColumns+" FROM keys"+order)
	} else {
		rows, err = db.pool.Query(ctx, "SELECT "+keyColumns+" FROM keys WHERE tenant_id = $1"+order, tenantID)
	}
	if err != nil {
		return nil, opError("list keys", err)
	}
	out := []tenant.Key{}
	var k tenant.Key
	var created int64
	var expires, revoked *int64
	_, err = pgx.ForEachRow(rows, []any{&k.ID, &k.TenantID, &k.Name, &k.Prefix, &k.Hash, &k.Admin, &k.Models,
		&created, &expires, &revoked,
		&k.Limits.RequestsPerMinute, &k.Limits.TokensPerMinute, &k.Limits.Concurrent,
		&k.Aliases, &k.Priority, &k.Tags, &k.Tools}, func() error {
		key := k
		if len(key.Models) == 0 {
			key.Models = nil
		}
		key.Attributes = key.Attributes.Clone()
		key.CreatedAt = fromUnixNano(created)
		key.ExpiresAt = fromUnixNanoPtr(expires)
		key.RevokedAt = fromUnixNanoPtr(revoked)
		out = append(out, key)
		k.Models, k.Aliases, k.Tags, k.Tools = nil, nil, nil, nil // scan the next row into fresh ones
		return nil
	})
	if err != nil {
		return nil, opError("list keys", err)
	}
	return out, nil
}

// RevokeKey implements tenant.Store. Listeners (ListenKeys) are notified
// when the transaction commits.
func (db *DB) RevokeKey(ctx context.Context, id string, at time.Time) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	return db.updateAndNotify(ctx, "revoke key", id,
		"UPDATE keys SET revoked_ns = COALESCE(revoked_ns, $1) WHERE id = $2", unixNano(at), id)
}

// SetTenantLimits implements tenant.Store. Listeners (ListenKeys) are
// notified, since a key set carries its tenants' limits.
func (db *DB) SetTenantLimits(ctx context.Context, id string, l tenant.Limits) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	return db.setLimits(ctx, "tenants", id, l)
}

// SetKeyLimits implements tenant.Store. Listeners (ListenKeys) are
// notified when the transaction commits.
func (db *DB) SetKeyLimits(ctx context.Context, id string, l tenant.Limits) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	return db.setLimits(ctx, "keys", id, l)
}

// SetTenantAttributes implements tenant.Store. Listeners (ListenKeys) are
// notified, since a key set carries its tenants' attributes.
func (db *DB) SetTenantAttributes(ctx context.Context, id string, a tenant.Attributes) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	return db.setAttributes(ctx, "tenants", id, a)
}

// SetKeyAttributes implements tenant.Store. Listeners (ListenKeys) are
// notified when the transaction commits.
func (db *DB) SetKeyAttributes(ctx context.Context, id string, a tenant.Attributes) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	return db.setAttributes(ctx, "keys", id, a)
}

// setAttributes sets the attributes of the row id of table, which is a
// constant.
func (db *DB) setAttributes(ctx context.Context, table, id string, a tenant.Attributes) error {
	return db.updateAndNotify(ctx, "set attributes", id, "UPDATE "+table+
		" SET aliases = $1::jsonb, priority = $2, tags = $3::jsonb, tools = $4::jsonb WHERE id = $5",
		jsonbObject(a.Aliases), a.Priority, jsonbObject(a.Tags), jsonbArray(a.Tools), id)
}

// jsonObject is m for a jsonb column that holds an object: never SQL or
// JSON null.
func jsonObject(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// jsonbObject is m as the JSON text of an object, for a parameter cast to
// jsonb in the SQL: behind a pooler in transaction mode pgx encodes
// arguments by their Go type alone (no prepared statement tells it the
// column's), and has no encoding of a map as text.
func jsonbObject(m map[string]string) string {
	b, err := json.Marshal(jsonObject(m))
	if err != nil {
		panic(err) // a map of strings always marshals
	}
	return string(b)
}

// jsonbArray is l as the JSON text of an array (never null), for a
// parameter cast to jsonb as jsonbObject's.
func jsonbArray(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, err := json.Marshal(l)
	if err != nil {
		panic(err) // a list of strings always marshals
	}
	return string(b)
}

// setLimits sets the limits of the row id of table, which is a constant.
func (db *DB) setLimits(ctx context.Context, table, id string, l tenant.Limits) error {
	return db.updateAndNotify(ctx, "set limits", id, "UPDATE "+table+
		" SET requests_per_minute = $1, tokens_per_minute = $2, concurrent = $3 WHERE id = $4",
		l.RequestsPerMinute, l.TokensPerMinute, l.Concurrent, id)
}

// updateAndNotify runs one UPDATE of the tenant or key row id and, in the
// same transaction, notifies key listeners (ListenKeys) of the change. No
// row matched is tenant.ErrNotFound.
func (db *DB) updateAndNotify(ctx context.Context, op, id, sql string, args ...any) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sql, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return tenant.ErrNotFound
		}
		return db.notifyKeys(ctx, tx, id)
	})
	if errors.Is(err, tenant.ErrNotFound) {
		return err
	}
	if err != nil {
		return opError(op, err)
	}
	return nil
}
