package tenanttest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/tenant"
)

// failing is a Store whose Keys fails while fail is set.
type failing struct {
	tenant.Store
	fail atomic.Bool
}

var errStoreDown = errors.New("store down")

func (f *failing) Keys(ctx context.Context, tenantID string) ([]tenant.Key, error) {
	if f.fail.Load() {
		return nil, errStoreDown
	}
	return f.Store.Keys(ctx, tenantID)
}

func testKeyring(t *testing.T, newStore func(t *testing.T) tenant.Store) {
	t.Run("Authenticate", func(t *testing.T) { testAuthenticate(t, newStore(t)) })
	t.Run("ReloadFailureKeepsSet", func(t *testing.T) { testReloadFailure(t, newStore(t)) })
	t.Run("ConcurrentReload", func(t *testing.T) { testConcurrentReload(t, newStore(t)) })
	t.Run("StaleReloadDoesNotWin", func(t *testing.T) { testStaleReload(t, newStore(t)) })
}

// stalling is a Store whose Keys, once armed, reads the keys and then
// waits for release before it returns them: a slow background reload.
type stalling struct {
	tenant.Store
	armed   atomic.Bool
	read    chan struct{}
	release chan struct{}
}

func (s *stalling) Keys(ctx context.Context, tenantID string) ([]tenant.Key, error) {
	keys, err := s.Store.Keys(ctx, tenantID)
	if s.armed.CompareAndSwap(true, false) {
		close(s.read)
		<-s.release
	}
	return keys, err
}

// A reload that read the keys before a key was created (a background
// refresh) and returns after the reload that followed the creation (the
// admin API's) must not put the older set back: the new key would be
// refused until the next refresh.
func testStaleReload(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	st := &stalling{Store: s, read: make(chan struct{}), release: make(chan struct{})}
	mustTenant(t, s, "a")
	kr := tenant.NewKeyring(st)
	if err := kr.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	st.armed.Store(true)
	stale := make(chan error, 1)
	go func() { stale <- kr.Reload(ctx) }()
	<-st.read
	k, secret := newKey("a", "new", 0)
	mustKey(t, s, k)
	fresh := make(chan error, 1)
	go func() { fresh <- kr.Reload(ctx) }()
	// The fresh reload runs once the stale one is done, or — without
	// ordering — it finishes first and the stale one overwrites it.
	time.Sleep(100 * time.Millisecond) // room for the fresh reload to finish first, were reloads not ordered
	close(st.release)
	if err := <-stale; err != nil {
		t.Fatal(err)
	}
	if err := <-fresh; err != nil { // sent at once, or once the stale one was done
		t.Fatal(err)
	}
	// Wait for the fresh reload if it was held behind the stale one.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := kr.Authenticate(secret)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the key created before the last reload is refused: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testAuthenticate(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	mustTenant(t, s, "a", "b")
	now := time.Now()
	past, future := now.Add(-time.Minute), now.Add(time.Hour)

	plain, plainSecret := newKey("a", "plain", 0)
	limited, limitedSecret := newKey("a", "limited", 1)
	limited.Models = []string{"sim-chat"}
	admin, adminSecret := newKey("b", "admin", 2)
	admin.Admin = true
	revoked, revokedSecret := newKey("a", "revoked", 3)
	expired, expiredSecret := newKey("a", "expired", 4)
	expired.ExpiresAt = &past
	expiring, expiringSecret := newKey("a", "expiring", 5)
	expiring.ExpiresAt = &future
	for _, k := range []tenant.Key{plain, limited, admin, revoked, expired, expiring} {
		mustKey(t, s, k)
	}
	if err := s.RevokeKey(ctx, revoked.ID, now); err != nil {
		t.Fatal(err)
	}

	kr := tenant.NewKeyring(s)
	if _, err := kr.Authenticate(plainSecret); !errors.Is(err, tenant.ErrUnknownKey) {
		t.Errorf("Authenticate before the first Reload = %v; want ErrUnknownKey", err)
	}
	if err := kr.Reload(ctx); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if at, n, err := kr.Status(); at.IsZero() || n != 6 || err != nil {
		t.Errorf("Status = %v, %d, %v; want a load time, 6 keys, no error", at, n, err)
	}

	unknown, _, _, _ := tenant.NewSecret()
	for _, tc := range []struct {
		name, secret string
		want         tenant.Principal
		err          error
	}{
		{"plain", plainSecret, tenant.Principal{TenantID: "a", KeyID: plain.ID}, nil},
		{"limited", limitedSecret, tenant.Principal{TenantID: "a", KeyID: limited.ID, Models: []string{"sim-chat"}}, nil},
		{"admin", adminSecret, tenant.Principal{TenantID: "b", KeyID: admin.ID, Admin: true}, nil},
		{"expiring", expiringSecret, tenant.Principal{TenantID: "a", KeyID: expiring.ID}, nil},
		{"revoked", revokedSecret, tenant.Principal{}, tenant.ErrRevokedKey},
		{"expired", expiredSecret, tenant.Principal{}, tenant.ErrExpiredKey},
		{"unknown", unknown, tenant.Principal{}, tenant.ErrUnknownKey},
		{"empty", "", tenant.Principal{}, tenant.ErrUnknownKey},
		{"truncated", plainSecret[:len(plainSecret)-1], tenant.Principal{}, tenant.ErrUnknownKey},
		{"hash instead of secret", plain.Hash, tenant.Principal{}, tenant.ErrUnknownKey},
		{"huge", strings.Repeat("x", 1<<20), tenant.Principal{}, tenant.ErrUnknownKey},
	} {
		p, err := kr.Authenticate(tc.secret)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: Authenticate error = %v; want %v", tc.name, err, tc.err)
			continue
		}
		if p.TenantID != tc.want.TenantID || p.KeyID != tc.want.KeyID || p.Admin != tc.want.Admin ||
			len(p.Models) != len(tc.want.Models) {
			t.Errorf("%s: Authenticate = %+v; want %+v", tc.name, p, tc.want)
		}
	}

	// By key id, as work a key started finds it later (a batch's lines).
	for _, tc := range []struct {
		id  string
		err error
	}{{plain.ID, nil}, {admin.ID, nil}, {revoked.ID, tenant.ErrRevokedKey}, {expired.ID, tenant.ErrExpiredKey}, {"key_none", tenant.ErrUnknownKey}} {
		p, err := kr.Principal(tc.id)
		if !errors.Is(err, tc.err) || err == nil && p.KeyID != tc.id {
			t.Errorf("Principal(%s) = %+v, %v; want its principal or %v", tc.id, p, err, tc.err)
		}
	}

	// The model allow list.
	p, _ := kr.Authenticate(limitedSecret)
	if !p.Allows("sim-chat") || p.Allows("gpt-4o") {
		t.Errorf("limited key: Allows(sim-chat) = %v, Allows(gpt-4o) = %v; want true, false",
			p.Allows("sim-chat"), p.Allows("gpt-4o"))
	}
	p, _ = kr.Authenticate(plainSecret)
	if !p.Allows("anything") {
		t.Errorf("a key without a model list must allow every model")
	}

	// Changes take effect at the next Reload, not before.
	if err := s.RevokeKey(ctx, plain.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	added, addedSecret := newKey("a", "added", 6)
	mustKey(t, s, added)
	if _, err := kr.Authenticate(plainSecret); err != nil {
		t.Errorf("revoked key before Reload: %v; want the old set in force", err)
	}
	if err := kr.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Authenticate(plainSecret); !errors.Is(err, tenant.ErrRevokedKey) {
		t.Errorf("revoked key after Reload: %v; want ErrRevokedKey", err)
	}
	if p, err := kr.Authenticate(addedSecret); err != nil || p.KeyID != added.ID {
		t.Errorf("added key after Reload = %+v, %v", p, err)
	}
}

func testReloadFailure(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	f := &failing{Store: s}
	mustTenant(t, s, "a")
	k, secret := newKey("a", "k", 0)
	mustKey(t, s, k)
	kr := tenant.NewKeyring(f)
	if err := kr.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	okAt, _, _ := kr.Status()

	f.fail.Store(true)
	if err := s.RevokeKey(ctx, k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := kr.Reload(ctx); !errors.Is(err, errStoreDown) {
		t.Fatalf("Reload with the store down = %v; want its error", err)
	}
	if p, err := kr.Authenticate(secret); err != nil || p.KeyID != k.ID {
		t.Errorf("after a failed Reload, Authenticate = %+v, %v; want the previous set in force", p, err)
	}
	if at, n, err := kr.Status(); !at.Equal(okAt) || n != 1 || !errors.Is(err, errStoreDown) {
		t.Errorf("Status after a failed Reload = %v, %d, %v; want %v, 1, the error", at, n, err, okAt)
	}

	f.fail.Store(false)
	if err := kr.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Authenticate(secret); !errors.Is(err, tenant.ErrRevokedKey) {
		t.Errorf("after recovery, Authenticate = %v; want ErrRevokedKey", err)
	}
	if _, _, err := kr.Status(); err != nil {
		t.Errorf("Status after recovery reports %v", err)
	}
}

func testConcurrentReload(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	mustTenant(t, s, "a")
	k, secret := newKey("a", "k", 0)
	mustKey(t, s, k)
	kr := tenant.NewKeyring(s)
	if err := kr.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				if p, err := kr.Authenticate(secret); err != nil || p.KeyID != k.ID {
					t.Errorf("Authenticate during reloads = %+v, %v", p, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 10 {
			extra, _ := newKey("a", "extra", i+1)
			if err := s.CreateKey(ctx, extra); err != nil {
				t.Errorf("CreateKey: %v", err)
			}
			if err := kr.Reload(ctx); err != nil {
				t.Errorf("Reload: %v", err)
			}
		}
	})
	wg.Wait()
}
