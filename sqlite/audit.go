package sqlite

import (
	"context"

	"github.com/bulwark-ai/bulwark/tenant"
)

var _ tenant.Auditor = (*DB)(nil)

// AppendAudit implements tenant.Auditor.
func (db *DB) AppendAudit(ctx context.Context, e tenant.AuditEntry) error {
	_, err := db.db.ExecContext(ctx, `INSERT INTO audit
	(id, time, key_id, tenant_id, action, target, target_tenant, remote) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, formatTime(e.Time), e.KeyID, e.TenantID, e.Action, e.Target, e.TargetTenant, e.Remote)
	if err != nil {
		return opError("append audit", err)
	}
	return nil
}

// Audit implements tenant.Auditor.
func (db *DB) Audit(ctx context.Context, f tenant.AuditFilter) ([]tenant.AuditEntry, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT id, time, key_id, tenant_id, action, target, target_tenant, remote
	FROM audit WHERE (? = '' OR target_tenant = ?) ORDER BY time DESC, id DESC LIMIT ?`,
		f.TargetTenant, f.TargetTenant, f.AuditLimit())
	if err != nil {
		return nil, opError("audit", err)
	}
	defer rows.Close()
	out := []tenant.AuditEntry{}
	for rows.Next() {
		var e tenant.AuditEntry
		var at string
		if err := rows.Scan(&e.ID, &at, &e.KeyID, &e.TenantID, &e.Action, &e.Target, &e.TargetTenant, &e.Remote); err != nil {
			return nil, opError("audit", err)
		}
		if e.Time, err = parseTime(at); err != nil {
			return nil, opError("audit", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, opError("audit", err)
	}
	return out, nil
}
