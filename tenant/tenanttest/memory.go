package tenanttest

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/bulwark-ai/bulwark/tenant"
)

// Memory is an in-memory tenant.Store for tests. The zero value is ready to
// use, and it is safe for concurrent use.
type Memory struct {
	mu      sync.Mutex
	tenants map[string]tenant.Tenant
	keys    map[string]tenant.Key
	hashes  map[string]string // hash → key id
	audit   []tenant.AuditEntry
}

var (
	_ tenant.Store   = (*Memory)(nil)
	_ tenant.Auditor = (*Memory)(nil)
)

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{} }

func (m *Memory) init() {
	if m.tenants == nil {
		m.tenants = map[string]tenant.Tenant{}
		m.keys = map[string]tenant.Key{}
		m.hashes = map[string]string{}
	}
}

// CreateTenant implements tenant.Store.
func (m *Memory) CreateTenant(ctx context.Context, t tenant.Tenant) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if _, ok := m.tenants[t.ID]; ok {
		return tenant.ErrExists
	}
	t.CreatedAt = t.CreatedAt.UTC()
	t.Attributes = t.Attributes.Clone()
	m.tenants[t.ID] = t
	return nil
}

// Tenant implements tenant.Store.
func (m *Memory) Tenant(ctx context.Context, id string) (tenant.Tenant, error) {
	if err := ctx.Err(); err != nil {
		return tenant.Tenant{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tenants[id]
	if !ok {
		return tenant.Tenant{}, tenant.ErrNotFound
	}
	t.Attributes = t.Attributes.Clone()
	return t, nil
}

// Tenants implements tenant.Store; tenants are ordered by ID.
func (m *Memory) Tenants(ctx context.Context) ([]tenant.Tenant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]tenant.Tenant, 0, len(m.tenants))
	for _, t := range m.tenants {
		t.Attributes = t.Attributes.Clone()
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b tenant.Tenant) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// CreateKey implements tenant.Store.
func (m *Memory) CreateKey(ctx context.Context, k tenant.Key) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if _, ok := m.tenants[k.TenantID]; !ok {
		return tenant.ErrNotFound
	}
	if _, ok := m.keys[k.ID]; ok {
		return tenant.ErrExists
	}
	if _, ok := m.hashes[k.Hash]; ok {
		return tenant.ErrExists
	}
	k = copyKey(k)
	m.keys[k.ID] = k
	m.hashes[k.Hash] = k.ID
	return nil
}

// Keys implements tenant.Store; keys are ordered by creation time, then ID.
func (m *Memory) Keys(ctx context.Context, tenantID string) ([]tenant.Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []tenant.Key{}
	for _, k := range m.keys {
		if tenantID == "" || k.TenantID == tenantID {
			out = append(out, copyKey(k))
		}
	}
	slices.SortFunc(out, func(a, b tenant.Key) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// RevokeKey implements tenant.Store. The first revocation time is kept.
func (m *Memory) RevokeKey(ctx context.Context, id string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[id]
	if !ok {
		return tenant.ErrNotFound
	}
	if k.RevokedAt == nil {
		at = at.UTC()
		k.RevokedAt = &at
		m.keys[id] = k
	}
	return nil
}

// copyKey returns k with nothing shared with the caller and times in UTC.
func copyKey(k tenant.Key) tenant.Key {
	if len(k.Models) == 0 {
		k.Models = nil
	} else {
		k.Models = slices.Clone(k.Models)
	}
	k.Attributes = k.Attributes.Clone()
	k.CreatedAt = k.CreatedAt.UTC()
	k.ExpiresAt = utcPtr(k.ExpiresAt)
	k.RevokedAt = utcPtr(k.RevokedAt)
	return k
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// SetTenantLimits implements tenant.Store.
func (m *Memory) SetTenantLimits(ctx context.Context, id string, l tenant.Limits) error {
	return update(ctx, m, tenantsOf, id, func(t *tenant.Tenant) { t.Limits = l })
}

// SetKeyLimits implements tenant.Store.
func (m *Memory) SetKeyLimits(ctx context.Context, id string, l tenant.Limits) error {
	return update(ctx, m, keysOf, id, func(k *tenant.Key) { k.Limits = l })
}

// SetTenantAttributes implements tenant.Store.
func (m *Memory) SetTenantAttributes(ctx context.Context, id string, a tenant.Attributes) error {
	return update(ctx, m, tenantsOf, id, func(t *tenant.Tenant) { t.Attributes = a.Clone() })
}

// SetKeyAttributes implements tenant.Store.
func (m *Memory) SetKeyAttributes(ctx context.Context, id string, a tenant.Attributes) error {
	return update(ctx, m, keysOf, id, func(k *tenant.Key) { k.Attributes = a.Clone() })
}

// update applies set to the entry id of the map of m that in selects,
// under m's lock, or reports tenant.ErrNotFound.
func update[V any](ctx context.Context, m *Memory, in func(*Memory) map[string]V, id string, set func(*V)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	entries := in(m)
	v, ok := entries[id]
	if !ok {
		return tenant.ErrNotFound
	}
	set(&v)
	entries[id] = v
	return nil
}

func tenantsOf(m *Memory) map[string]tenant.Tenant { return m.tenants }
func keysOf(m *Memory) map[string]tenant.Key       { return m.keys }

// AppendAudit implements tenant.Auditor.
func (m *Memory) AppendAudit(ctx context.Context, e tenant.AuditEntry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e.Time = e.Time.UTC()
	m.audit = append(m.audit, e)
	return nil
}

// Audit implements tenant.Auditor.
func (m *Memory) Audit(ctx context.Context, f tenant.AuditFilter) ([]tenant.AuditEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []tenant.AuditEntry{}
	for _, e := range m.audit {
		if f.TargetTenant == "" || e.TargetTenant == f.TargetTenant {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b tenant.AuditEntry) int {
		return cmp.Or(b.Time.Compare(a.Time), cmp.Compare(b.ID, a.ID))
	})
	return out[:min(len(out), f.AuditLimit())], nil
}
