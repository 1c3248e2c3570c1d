package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/bulwark-ai/bulwark/tenant"
)

var _ tenant.Auditor = (*DB)(nil)

// AppendAudit implements tenant.Auditor.
func (db *DB) AppendAudit(ctx context.Context, e tenant.AuditEntry) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO audit
	(id, time_ns, key_id, tenant_id, action, target, target_tenant, remote) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		e.ID, unixNano(e.Time), e.KeyID, e.TenantID, e.Action, e.Target, e.TargetTenant, e.Remote)
	if err != nil {
		return opError("append audit", err)
	}
	return nil
}

// Audit implements tenant.Auditor.
func (db *DB) Audit(ctx context.Context, f tenant.AuditFilter) ([]tenant.AuditEntry, error) {
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT id, time_ns, key_id, tenant_id, action, target, target_tenant, remote
	FROM audit WHERE ($1 = '' OR target_tenant = $1) ORDER BY time_ns DESC, id COLLATE "C" DESC LIMIT $2`,
		f.TargetTenant, f.AuditLimit())
	if err != nil {
		return nil, opError("audit", err)
	}
	out := []tenant.AuditEntry{}
	var e tenant.AuditEntry
	var at int64
	_, err = pgx.ForEachRow(rows, []any{&e.ID, &at, &e.KeyID, &e.TenantID, &e.Action, &e.Target, &e.TargetTenant, &e.Remote}, func() error {
		e.Time = fromUnixNano(at)
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, opError("audit", err)
	}
	return out, nil
}
