package tenanttest

import (
	"errors"
	"testing"

	"github.com/bulwark-ai/bulwark/tenant"
)

// testLimits checks that limits round-trip on tenants and keys, at creation
// and through SetTenantLimits and SetKeyLimits, and reach the Principal.
func testLimits(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	tl := tenant.Limits{RequestsPerMinute: 600, TokensPerMinute: 100000, Concurrent: 20}
	if err := s.CreateTenant(ctx, tenant.Tenant{ID: "a", Name: "A", Limits: tl, CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	mustTenant(t, s, "b")
	if got, _ := s.Tenant(ctx, "a"); got.Limits != tl {
		t.Errorf("tenant limits = %+v; want %+v", got.Limits, tl)
	}
	if got, _ := s.Tenant(ctx, "b"); !got.Limits.IsZero() {
		t.Errorf("tenant without limits = %+v; want none", got.Limits)
	}
	kl := tenant.Limits{RequestsPerMinute: 60, Concurrent: 2}
	k, secret := newKey("a", "limited", 0)
	k.Limits = kl
	mustKey(t, s, k)
	keys, err := s.Keys(ctx, "a")
	if err != nil || len(keys) != 1 || keys[0].Limits != kl {
		t.Fatalf("Keys = %+v, %v; want one key with limits %+v", keys, err, kl)
	}

	kr := tenant.NewKeyring(s)
	if err := kr.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := kr.Authenticate(secret)
	if err != nil || p.KeyLimits != kl || p.TenantLimits != tl {
		t.Fatalf("Principal = %+v, %v; want key limits %+v and tenant limits %+v", p, err, kl, tl)
	}

	tl2 := tenant.Limits{TokensPerMinute: 5}
	kl2 := tenant.Limits{RequestsPerMinute: 1}
	if err := s.SetTenantLimits(ctx, "a", tl2); err != nil {
		t.Fatalf("SetTenantLimits: %v", err)
	}
	if err := s.SetKeyLimits(ctx, k.ID, kl2); err != nil {
		t.Fatalf("SetKeyLimits: %v", err)
	}
	if got, _ := s.Tenant(ctx, "a"); got.Limits != tl2 {
		t.Errorf("tenant limits after set = %+v; want %+v", got.Limits, tl2)
	}
	if keys, _ := s.Keys(ctx, ""); len(keys) != 1 || keys[0].Limits != kl2 {
		t.Errorf("key limits after set = %+v; want %+v", keys, kl2)
	}
	if err := kr.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if p, _ := kr.Authenticate(secret); p.KeyLimits != kl2 || p.TenantLimits != tl2 {
		t.Errorf("Principal after set = %+v", p)
	}
	if err := s.SetTenantLimits(ctx, "nope", tl); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("SetTenantLimits(unknown) = %v; want ErrNotFound", err)
	}
	if err := s.SetKeyLimits(ctx, "key_nope", kl); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("SetKeyLimits(unknown) = %v; want ErrNotFound", err)
	}
}
