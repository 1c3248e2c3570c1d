package tenant

import (
	"context"
	"time"
)

// AuditEntry records one admin action: who (the key and its tenant), what
// (the action and what it acted on), when and from where.
type AuditEntry struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// KeyID and TenantID are the admin key that acted and its tenant.
	KeyID    string `json:"key_id"`
	TenantID string `json:"tenant_id"`
	// Action names what was done, such as "key.create" or "key.revoke".
	Action string `json:"action"`
	// Target is what it was done to: a tenant or key id.
	Target string `json:"target"`
	// TargetTenant is the tenant the target belongs to.
	TargetTenant string `json:"target_tenant"`
	// Remote is the client's address.
	Remote string `json:"remote"`
}

// AuditFilter selects audit entries. Empty fields match everything.
type AuditFilter struct {
	// TargetTenant restricts the entries to actions on one tenant.
	TargetTenant string
	// Limit bounds how many entries are returned, newest first; 0 means
	// 100.
	Limit int
}

// Auditor is the optional capability of a Store to keep the audit log of
// admin actions. Entries are never changed or removed.
type Auditor interface {
	// AppendAudit stores e; its ID and Time are set by the caller.
	AppendAudit(ctx context.Context, e AuditEntry) error
	// Audit returns the entries f selects, newest first (by time, then ID).
	Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}

// AuditLimit returns the number of entries a filter asks for.
func (f AuditFilter) AuditLimit() int {
	if f.Limit <= 0 {
		return 100
	}
	return min(f.Limit, 1000)
}
