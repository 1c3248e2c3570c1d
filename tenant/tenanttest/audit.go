package tenanttest

import (
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/tenant"
)

// RunAudit checks a tenant.Auditor: entries round-trip exactly, come back
// newest first, filter by target tenant and respect the limit. newAuditor
// is called once and must return an empty auditor.
func RunAudit(t *testing.T, newAuditor func(t *testing.T) tenant.Auditor) {
	a := newAuditor(t)
	ctx := t.Context()
	if got, err := a.Audit(ctx, tenant.AuditFilter{}); err != nil || len(got) != 0 {
		t.Fatalf("Audit of an empty log = %v, %v", got, err)
	}
	var want []tenant.AuditEntry
	for i, tn := range []string{"a", "b", "a"} {
		e := tenant.AuditEntry{ID: tenant.NewID("aud"), Time: base.Add(time.Duration(i) * time.Second),
			KeyID: "key_admin", TenantID: tenant.DefaultTenant, Action: "key.create", Target: tenant.NewID("key"),
			TargetTenant: tn, Remote: "192.0.2.1"}
		if err := a.AppendAudit(ctx, e); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		want = append(want, e)
	}
	got, err := a.Audit(ctx, tenant.AuditFilter{})
	if err != nil || len(got) != 3 {
		t.Fatalf("Audit = %d entries, %v; want 3", len(got), err)
	}
	for i, g := range got {
		w := want[2-i] // newest first
		checkTime(t, "audit time", g.Time, w.Time)
		g.Time = w.Time
		if g != w {
			t.Errorf("entry %d = %+v; want %+v", i, g, w)
		}
	}
	if got, _ := a.Audit(ctx, tenant.AuditFilter{TargetTenant: "a", Limit: 1}); len(got) != 1 || got[0].ID != want[2].ID {
		t.Errorf("Audit(tenant a, limit 1) = %+v; want the newest entry of a", got)
	}
	if got, _ := a.Audit(ctx, tenant.AuditFilter{TargetTenant: "b"}); len(got) != 1 || got[0].ID != want[1].ID {
		t.Errorf("Audit(tenant b) = %+v", got)
	}
}
