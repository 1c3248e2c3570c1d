package tenanttest

import (
	"slices"
	"testing"

	"github.com/bulwark-ai/bulwark/tenant"
)

// testTools checks that tool allowlists (Attributes.Tools) round-trip on
// tenants and keys, at creation and through SetTenantAttributes and
// SetKeyAttributes, that an empty list reads back as nil, and that the
// Principal carries the key's and the tenant's lists apart (both apply).
func testTools(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	ta := tenant.Attributes{Tools: []string{"search_*", "crm.get"}}
	if err := s.CreateTenant(ctx, tenant.Tenant{ID: "acme", Name: "Acme", Attributes: ta, CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Tenant(ctx, "acme")
	if err != nil || !slices.Equal(got.Tools, ta.Tools) {
		t.Fatalf("Tenant(acme).Tools = %v, %v; want %v", got.Tools, err, ta.Tools)
	}
	got.Tools[0] = "changed"
	if again, _ := s.Tenant(ctx, "acme"); again.Tools[0] != "search_*" {
		t.Errorf("modifying a returned tenant changed the store: %v", again.Tools)
	}
	k, secret := newKey("acme", "narrow", 0)
	k.Tools = []string{"search_web"}
	bare, bareSecret := newKey("acme", "inherits", 1)
	mustKey(t, s, k)
	mustKey(t, s, bare)
	keys, err := s.Keys(ctx, "acme")
	if err != nil || len(keys) != 2 || !slices.Equal(keys[0].Tools, k.Tools) || keys[1].Tools != nil {
		t.Fatalf("Keys = %+v, %v", keys, err)
	}
	kr := tenant.NewKeyring(s)
	if err := kr.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := kr.Authenticate(secret)
	if err != nil || !slices.Equal(p.KeyTools, k.Tools) || !slices.Equal(p.TenantTools, ta.Tools) {
		t.Errorf("Principal tools key %v tenant %v, %v", p.KeyTools, p.TenantTools, err)
	}
	if p, _ := kr.Authenticate(bareSecret); p.KeyTools != nil || !slices.Equal(p.TenantTools, ta.Tools) {
		t.Errorf("bare key's Principal tools key %v tenant %v", p.KeyTools, p.TenantTools)
	}

	// Replaced whole, and cleared with an empty list.
	if err := s.SetKeyAttributes(ctx, k.ID, tenant.Attributes{Tools: []string{"a", "b*"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTenantAttributes(ctx, "acme", tenant.Attributes{Tools: []string{}}); err != nil {
		t.Fatal(err)
	}
	keys, _ = s.Keys(ctx, "acme")
	if !slices.Equal(keys[0].Tools, []string{"a", "b*"}) {
		t.Errorf("key tools after set = %v", keys[0].Tools)
	}
	if got, _ := s.Tenant(ctx, "acme"); got.Tools != nil {
		t.Errorf("tenant tools after clearing = %#v; want nil", got.Tools)
	}
}
