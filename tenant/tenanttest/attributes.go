package tenanttest

import (
	"errors"
	"maps"
	"testing"

	"github.com/bulwark-ai/bulwark/tenant"
)

// testAttributes checks that attributes (aliases, priority, tags)
// round-trip on tenants and keys, at creation and through
// SetTenantAttributes and SetKeyAttributes, that a returned map is the
// caller's own, and that the Principal carries the key's attributes over
// its tenant's.
func testAttributes(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	ta := tenant.Attributes{
		Aliases:  map[string]string{"chat": "acme-chat-ft", "embed": "acme-embed"},
		Priority: "batch",
		Tags:     map[string]string{"team": "search", "cost-centre": "cc-42", "note": "équipe ☃"},
	}
	if err := s.CreateTenant(ctx, tenant.Tenant{ID: "acme", Name: "Acme", Attributes: ta, CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	mustTenant(t, s, "plain")
	got, err := s.Tenant(ctx, "acme")
	if err != nil || !got.Attributes.Equal(ta) {
		t.Fatalf("Tenant(acme) = %+v, %v; want attributes %+v", got.Attributes, err, ta)
	}
	// What a caller does with a returned tenant does not reach the store.
	got.Aliases["chat"] = "changed"
	got.Tags["team"] = "changed"
	if again, _ := s.Tenant(ctx, "acme"); !again.Attributes.Equal(ta) {
		t.Errorf("modifying a returned tenant changed the store: %+v", again.Attributes)
	}
	if got, _ := s.Tenant(ctx, "plain"); got.Aliases != nil || got.Tags != nil || got.Priority != "" {
		t.Errorf("tenant without attributes = %+v; want nil maps and no priority", got.Attributes)
	}
	list, err := s.Tenants(ctx)
	if err != nil || len(list) != 2 || !list[0].Attributes.Equal(ta) || !list[1].Attributes.Equal(tenant.Attributes{}) {
		t.Fatalf("Tenants = %+v, %v", list, err)
	}
	if list[0].Aliases["chat"] != "acme-chat-ft" || list[1].Aliases != nil {
		t.Errorf("Tenants lost or shared attribute maps: %+v", list)
	}

	ka := tenant.Attributes{
		Aliases:  map[string]string{"chat": "acme-chat-canary"},
		Priority: "critical",
		Tags:     map[string]string{"team": "ranking", "env": "prod"},
	}
	k, secret := newKey("acme", "override", 0)
	k.Attributes = ka
	bare, bareSecret := newKey("acme", "inherits", 1)
	other, otherSecret := newKey("plain", "none", 2)
	for _, key := range []tenant.Key{k, bare, other} {
		mustKey(t, s, key)
	}
	keys, err := s.Keys(ctx, "")
	if err != nil || len(keys) != 3 {
		t.Fatalf("Keys = %d keys, %v; want 3", len(keys), err)
	}
	if !keys[0].Attributes.Equal(ka) || !keys[1].Attributes.Equal(tenant.Attributes{}) {
		t.Errorf("key attributes = %+v and %+v; want %+v and none", keys[0].Attributes, keys[1].Attributes, ka)
	}
	if keys[1].Aliases != nil || keys[1].Tags != nil {
		t.Errorf("key without attributes has maps %+v", keys[1].Attributes)
	}
	keys[0].Aliases["chat"] = "changed"
	if again, _ := s.Keys(ctx, "acme"); !again[0].Attributes.Equal(ka) {
		t.Errorf("modifying a returned key changed the store: %+v", again[0].Attributes)
	}

	// The Principal: the key's aliases, tags and priority over its
	// tenant's.
	kr := tenant.NewKeyring(s)
	if err := kr.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, secret string
		priority     string
		aliases      map[string]string
		tags         map[string]string
	}{
		{"override", secret, "critical",
			map[string]string{"chat": "acme-chat-canary", "embed": "acme-embed"},
			map[string]string{"team": "ranking", "cost-centre": "cc-42", "note": "équipe ☃", "env": "prod"}},
		{"inherits", bareSecret, "batch", ta.Aliases, ta.Tags},
		{"none", otherSecret, "", nil, nil},
	} {
		p, err := kr.Authenticate(tc.secret)
		if err != nil {
			t.Fatalf("%s: Authenticate: %v", tc.name, err)
		}
		if p.Priority != tc.priority || !maps.Equal(p.Aliases, tc.aliases) || !maps.Equal(p.Tags, tc.tags) {
			t.Errorf("%s: Principal priority %q aliases %v tags %v; want %q %v %v",
				tc.name, p.Priority, p.Aliases, p.Tags, tc.priority, tc.aliases, tc.tags)
		}
	}
	p, _ := kr.Authenticate(bareSecret)
	if p.Alias("chat") != "acme-chat-ft" || p.Alias("gpt-4o") != "gpt-4o" {
		t.Errorf("Alias(chat) = %q, Alias(gpt-4o) = %q; want acme-chat-ft, gpt-4o", p.Alias("chat"), p.Alias("gpt-4o"))
	}

	// Set replaces the attributes whole, and takes effect at the next
	// Reload.
	ta2 := tenant.Attributes{Tags: map[string]string{"team": "infra"}}
	if err := s.SetTenantAttributes(ctx, "acme", ta2); err != nil {
		t.Fatalf("SetTenantAttributes: %v", err)
	}
	ka2 := tenant.Attributes{Priority: "interactive", Aliases: map[string]string{"fast": "acme-fast"}}
	if err := s.SetKeyAttributes(ctx, k.ID, ka2); err != nil {
		t.Fatalf("SetKeyAttributes: %v", err)
	}
	ka2.Aliases["fast"] = "changed by the caller after the call"
	if got, _ := s.Tenant(ctx, "acme"); !got.Attributes.Equal(ta2) {
		t.Errorf("tenant attributes after set = %+v; want %+v", got.Attributes, ta2)
	}
	keys, _ = s.Keys(ctx, "acme")
	want := tenant.Attributes{Priority: "interactive", Aliases: map[string]string{"fast": "acme-fast"}}
	if !keys[0].Attributes.Equal(want) {
		t.Errorf("key attributes after set = %+v; want %+v", keys[0].Attributes, want)
	}
	if p, _ := kr.Authenticate(secret); p.Priority != "critical" {
		t.Errorf("attributes changed before Reload: priority %q", p.Priority)
	}
	if err := kr.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	p, _ = kr.Authenticate(secret)
	if p.Priority != "interactive" || !maps.Equal(p.Aliases, want.Aliases) || !maps.Equal(p.Tags, ta2.Tags) {
		t.Errorf("Principal after set = %+v", p)
	}
	if p, _ := kr.Authenticate(bareSecret); p.Priority != "" || p.Aliases != nil {
		t.Errorf("a key inheriting cleared tenant attributes = %+v", p)
	}

	// Clearing leaves nothing behind.
	if err := s.SetKeyAttributes(ctx, k.ID, tenant.Attributes{}); err != nil {
		t.Fatal(err)
	}
	if keys, _ := s.Keys(ctx, "acme"); keys[0].Aliases != nil || keys[0].Tags != nil || keys[0].Priority != "" {
		t.Errorf("key attributes after clearing = %+v", keys[0].Attributes)
	}
	if err := s.SetTenantAttributes(ctx, "nope", ta); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("SetTenantAttributes(unknown) = %v; want ErrNotFound", err)
	}
	if err := s.SetKeyAttributes(ctx, "key_nope", ka); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("SetKeyAttributes(unknown) = %v; want ErrNotFound", err)
	}
	// Limits and attributes are set apart: one does not reset the other.
	if err := s.SetTenantLimits(ctx, "acme", tenant.Limits{Concurrent: 3}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Tenant(ctx, "acme"); !got.Attributes.Equal(ta2) || got.Limits.Concurrent != 3 {
		t.Errorf("tenant after setting limits = %+v", got)
	}
}
