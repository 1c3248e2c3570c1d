package tenanttest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/tenant"
)

// Run runs the conformance suite against stores made by newStore, which is
// called once per subtest and must return an empty store that lives until
// the test ends.
func Run(t *testing.T, newStore func(t *testing.T) tenant.Store) {
	t.Run("Tenants", func(t *testing.T) { testTenants(t, newStore(t)) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, newStore(t)) })
	t.Run("KeyRoundTrip", func(t *testing.T) { testKeyRoundTrip(t, newStore(t)) })
	t.Run("Revoke", func(t *testing.T) { testRevoke(t, newStore(t)) })
	t.Run("Limits", func(t *testing.T) { testLimits(t, newStore(t)) })
	t.Run("Attributes", func(t *testing.T) { testAttributes(t, newStore(t)) })
	t.Run("Tools", func(t *testing.T) { testTools(t, newStore(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, newStore(t)) })
	t.Run("Keyring", func(t *testing.T) { testKeyring(t, newStore) })
	t.Run("Bootstrap", func(t *testing.T) { testBootstrap(t, newStore) })
}

// zone is a fixed non-UTC location: stores must return times in UTC
// whatever location they were given in.
var zone = time.FixedZone("UTC+5:30", 5*3600+1800)

// base is a time with nanoseconds, so that stores are seen to keep them.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897932, zone)

func testTenants(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	if got, err := s.Tenants(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Tenants of an empty store = %v, %v; want none", got, err)
	}
	b := tenant.Tenant{ID: "beta", Name: "Beta team", CreatedAt: base}
	a := tenant.Tenant{ID: "alpha", Name: "Alpha", CreatedAt: base.Add(time.Second)}
	for _, tn := range []tenant.Tenant{b, a} {
		if err := s.CreateTenant(ctx, tn); err != nil {
			t.Fatalf("CreateTenant(%q): %v", tn.ID, err)
		}
	}
	got, err := s.Tenant(ctx, "beta")
	if err != nil {
		t.Fatalf("Tenant(beta): %v", err)
	}
	checkTenant(t, got, b)

	err = s.CreateTenant(ctx, tenant.Tenant{ID: "beta", Name: "again", CreatedAt: base})
	if !errors.Is(err, tenant.ErrExists) {
		t.Errorf("CreateTenant(duplicate) = %v; want ErrExists", err)
	}
	if got, _ := s.Tenant(ctx, "beta"); got.Name != b.Name {
		t.Errorf("a failed duplicate create changed the tenant: name %q", got.Name)
	}
	if _, err := s.Tenant(ctx, "nope"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("Tenant(unknown) = %v; want ErrNotFound", err)
	}

	list, err := s.Tenants(ctx)
	if err != nil {
		t.Fatalf("Tenants: %v", err)
	}
	if len(list) != 2 {
		t.Fatalf("Tenants = %d tenants; want 2", len(list))
	}
	// Ordered by ID.
	checkTenant(t, list[0], a)
	checkTenant(t, list[1], b)
}

func checkTenant(t *testing.T, got, want tenant.Tenant) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name {
		t.Errorf("tenant = %q %q; want %q %q", got.ID, got.Name, want.ID, want.Name)
	}
	checkTime(t, "tenant "+want.ID+" created_at", got.CreatedAt, want.CreatedAt)
}

func checkTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v; want %v", what, got, want)
	}
	if got.Location() != time.UTC {
		t.Errorf("%s is in %v; want UTC", what, got.Location())
	}
}

func checkTimePtr(t *testing.T, what string, got, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s = %v; want %v", what, got, want)
	default:
		checkTime(t, what, *got, *want)
	}
}

// newKey returns a key of tenantID with a fresh secret, created at base+n
// seconds.
func newKey(tenantID, name string, n int) (tenant.Key, string) {
	secret, prefix, hash, err := tenant.NewSecret()
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return tenant.Key{
		ID:        tenant.NewID("key"),
		TenantID:  tenantID,
		Name:      name,
		Prefix:    prefix,
		Hash:      hash,
		CreatedAt: base.Add(time.Duration(n) * time.Second),
	}, secret
}

func mustTenant(t *testing.T, s tenant.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := s.CreateTenant(t.Context(), tenant.Tenant{ID: id, Name: id, CreatedAt: base}); err != nil {
			t.Fatalf("CreateTenant(%q): %v", id, err)
		}
	}
}

func mustKey(t *testing.T, s tenant.Store, k tenant.Key) {
	t.Helper()
	if err := s.CreateKey(t.Context(), k); err != nil {
		t.Fatalf("CreateKey(%s): %v", k.ID, err)
	}
}

func keyIDs(keys []tenant.Key) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

func testKeys(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	mustTenant(t, s, "a", "b", "empty")

	orphan, _ := newKey("nope", "orphan", 0)
	if err := s.CreateKey(ctx, orphan); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("CreateKey(unknown tenant) = %v; want ErrNotFound", err)
	}

	a1, _ := newKey("a", "a1", 1)
	b1, _ := newKey("b", "b1", 2)
	a2, _ := newKey("a", "a2", 3)
	for _, k := range []tenant.Key{a1, b1, a2} {
		mustKey(t, s, k)
	}

	sameID, _ := newKey("b", "same id", 4)
	sameID.ID = a1.ID
	if err := s.CreateKey(ctx, sameID); !errors.Is(err, tenant.ErrExists) {
		t.Errorf("CreateKey(duplicate id) = %v; want ErrExists", err)
	}
	sameHash, _ := newKey("b", "same hash", 5)
	sameHash.Hash = a1.Hash
	if err := s.CreateKey(ctx, sameHash); !errors.Is(err, tenant.ErrExists) {
		t.Errorf("CreateKey(duplicate hash) = %v; want ErrExists", err)
	}

	// Ordered by creation time, then ID.
	for _, tc := range []struct {
		tenant string
		want   []string
	}{
		{"a", []string{a1.ID, a2.ID}},
		{"b", []string{b1.ID}},
		{"", []string{a1.ID, b1.ID, a2.ID}},
		{"empty", nil},
		{"nope", nil},
	} {
		keys, err := s.Keys(ctx, tc.tenant)
		if err != nil {
			t.Errorf("Keys(%q): %v", tc.tenant, err)
			continue
		}
		if got := keyIDs(keys); !slices.Equal(got, tc.want) {
			t.Errorf("Keys(%q) = %v; want %v", tc.tenant, got, tc.want)
		}
	}
}

func testKeyRoundTrip(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	mustTenant(t, s, "a")
	expires := base.Add(30 * 24 * time.Hour)
	full, _ := newKey("a", "full", 0)
	full.Admin = true
	full.Models = []string{"gpt-4o", "sim-chat", "text-embedding-3-small"}
	full.ExpiresAt = &expires
	bare, _ := newKey("a", "", 1)
	bare.Models = []string{}
	mustKey(t, s, full)
	mustKey(t, s, bare)

	keys, err := s.Keys(ctx, "a")
	if err != nil || len(keys) != 2 {
		t.Fatalf("Keys = %d keys, %v; want 2", len(keys), err)
	}
	for i, want := range []tenant.Key{full, bare} {
		got := keys[i]
		if got.ID != want.ID || got.TenantID != want.TenantID || got.Name != want.Name ||
			got.Prefix != want.Prefix || got.Hash != want.Hash || got.Admin != want.Admin {
			t.Errorf("key %d = %+v; want %+v", i, got, want)
		}
		if !slices.Equal(got.Models, want.Models) {
			t.Errorf("key %d models = %q; want %q", i, got.Models, want.Models)
		}
		checkTime(t, "created_at", got.CreatedAt, want.CreatedAt)
		checkTimePtr(t, "expires_at", got.ExpiresAt, want.ExpiresAt)
		checkTimePtr(t, "revoked_at", got.RevokedAt, nil)
	}

	// What a caller does with a returned key does not reach the store.
	keys[0].Models[0] = "changed"
	again, _ := s.Keys(ctx, "a")
	if again[0].Models[0] != "gpt-4o" {
		t.Errorf("modifying a returned key changed the store")
	}
}

func testRevoke(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	mustTenant(t, s, "a")
	k, _ := newKey("a", "k", 0)
	other, _ := newKey("a", "other", 1)
	mustKey(t, s, k)
	mustKey(t, s, other)

	first := base.Add(time.Hour)
	if err := s.RevokeKey(ctx, k.ID, first); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	if err := s.RevokeKey(ctx, k.ID, first.Add(time.Hour)); err != nil {
		t.Errorf("RevokeKey(revoked key) = %v; want nil", err)
	}
	if err := s.RevokeKey(ctx, "key_unknown", first); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("RevokeKey(unknown) = %v; want ErrNotFound", err)
	}
	keys, err := s.Keys(ctx, "a")
	if err != nil || len(keys) != 2 {
		t.Fatalf("Keys = %d keys, %v; want 2 (revoked keys are listed)", len(keys), err)
	}
	// The first revocation time is kept.
	checkTimePtr(t, "revoked_at", keys[0].RevokedAt, &first)
	checkTimePtr(t, "revoked_at of the other key", keys[1].RevokedAt, nil)
}

func testConcurrent(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	const (
		workers       = 8
		keysPerWorker = 5
	)
	var wg sync.WaitGroup
	errs := make(chan error, workers*(keysPerWorker+3))
	for w := range workers {
		wg.Go(func() {
			id := fmt.Sprintf("t%d", w)
			if err := s.CreateTenant(ctx, tenant.Tenant{ID: id, Name: id, CreatedAt: base}); err != nil {
				errs <- fmt.Errorf("CreateTenant(%s): %w", id, err)
				return
			}
			for i := range keysPerWorker {
				k, _ := newKey(id, "k", i)
				if err := s.CreateKey(ctx, k); err != nil {
					errs <- fmt.Errorf("CreateKey: %w", err)
				}
				if _, err := s.Keys(ctx, ""); err != nil {
					errs <- fmt.Errorf("Keys: %w", err)
				}
			}
		})
	}
	// Racing creates of one tenant, and of keys with one hash: exactly one
	// of each wins.
	mustTenant(t, s, "contended-keys")
	contended, _ := newKey("contended-keys", "k", 0)
	tenantResults := make(chan error, workers)
	keyResults := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			tenantResults <- s.CreateTenant(ctx, tenant.Tenant{ID: "contended", Name: "c", CreatedAt: base})
		})
		wg.Go(func() {
			k := contended
			k.ID = tenant.NewID("key")
			keyResults <- s.CreateKey(ctx, k)
		})
	}
	wg.Wait()
	close(errs)
	close(tenantResults)
	close(keyResults)
	for err := range errs {
		t.Error(err)
	}
	for what, results := range map[string]chan error{"CreateTenant": tenantResults, "CreateKey": keyResults} {
		wins := 0
		for err := range results {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, tenant.ErrExists):
				t.Errorf("racing %s = %v; want nil or ErrExists", what, err)
			}
		}
		if wins != 1 {
			t.Errorf("%d racing %s calls succeeded; want 1", wins, what)
		}
	}
	tenants, err := s.Tenants(ctx)
	if err != nil || len(tenants) != workers+2 {
		t.Errorf("Tenants = %d, %v; want %d", len(tenants), err, workers+2)
	}
	keys, err := s.Keys(ctx, "")
	if err != nil || len(keys) != workers*keysPerWorker+1 {
		t.Errorf("Keys = %d, %v; want %d", len(keys), err, workers*keysPerWorker+1)
	}
}
