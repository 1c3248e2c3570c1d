package postgres_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/postgres"
	"github.com/bulwark-ai/bulwark/tenant"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// listener runs ListenKeys on db until the test ends and returns a channel
// that receives a value per onChange call.
func listener(t *testing.T, db *postgres.DB) <-chan struct{} {
	t.Helper()
	calls := make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { db.ListenKeys(ctx, func() { calls <- struct{}{} }, quiet) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return calls
}

func waitCall(t *testing.T, calls <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-calls:
	case <-time.After(time.Second):
		t.Fatalf("no key change callback within a second of %s", what)
	}
}

func drain(calls <-chan struct{}) {
	for {
		select {
		case <-calls:
		default:
			return
		}
	}
}

func newKey(t *testing.T, tenantID string) (tenant.Key, string) {
	secret, prefix, hash, err := tenant.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return tenant.Key{ID: tenant.NewID("key"), TenantID: tenantID, Name: "k", Prefix: prefix, Hash: hash,
		CreatedAt: time.Now()}, secret
}

func TestRevokePropagatesToOtherReplicas(t *testing.T) {
	t.Parallel()
	url := newSchema(t)
	replicaA, replicaB := open(t, url), open(t, url)
	ctx := t.Context()
	if err := replicaA.CreateTenant(ctx, tenant.Tenant{ID: "a", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	k, secret := newKey(t, "a")
	if err := replicaA.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}

	// Replica B authenticates from its keyring, reloaded on every change.
	kr := tenant.NewKeyring(replicaB)
	calls := make(chan struct{}, 100)
	lctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		replicaB.ListenKeys(lctx, func() {
			if err := kr.Reload(lctx); err != nil && lctx.Err() == nil {
				t.Errorf("Reload: %v", err)
			}
			calls <- struct{}{}
		}, quiet)
	})
	defer func() { cancel(); wg.Wait() }()
	waitCall(t, calls, "connecting") // the catch-up call
	if _, err := kr.Authenticate(secret); err != nil {
		t.Fatalf("Authenticate before revocation: %v", err)
	}

	start := time.Now()
	if err := replicaA.RevokeKey(ctx, k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := kr.Authenticate(secret); errors.Is(err, tenant.ErrRevokedKey) {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatal("the key revoked on replica A still works on replica B after a second")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("revocation reached the other replica in %v", time.Since(start))

	// A new key is heard too.
	drain(calls)
	k2, secret2 := newKey(t, "a")
	if err := replicaA.CreateKey(ctx, k2); err != nil {
		t.Fatal(err)
	}
	waitCall(t, calls, "a key creation")
	if _, err := kr.Authenticate(secret2); err != nil {
		t.Errorf("a key created on replica A is unknown on replica B: %v", err)
	}
}

func TestListenIgnoresOtherSchemasAndFailedChanges(t *testing.T) {
	t.Parallel()
	db, other := newDB(t), newDB(t)
	calls := listener(t, db)
	waitCall(t, calls, "connecting")
	ctx := t.Context()
	if err := other.CreateTenant(ctx, tenant.Tenant{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	k, _ := newKey(t, "a")
	if err := other.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	// A change that fails is rolled back with its notification.
	orphan, _ := newKey(t, "missing")
	if err := db.CreateKey(ctx, orphan); !errors.Is(err, tenant.ErrNotFound) {
		t.Fatalf("CreateKey(unknown tenant) = %v", err)
	}
	if err := db.RevokeKey(ctx, "key_unknown", time.Now()); !errors.Is(err, tenant.ErrNotFound) {
		t.Fatalf("RevokeKey(unknown) = %v", err)
	}
	select {
	case <-calls:
		t.Fatal("a change in another schema, or a failed change, was heard")
	case <-time.After(300 * time.Millisecond):
	}
}

func TestListenReconnects(t *testing.T) {
	t.Parallel()
	url := newSchema(t)
	app := "bulwark_listen_test_" + tenant.NewID("x")
	db := open(t, withParam(t, url, "application_name", app))
	calls := listener(t, db)
	waitCall(t, calls, "connecting")

	// Cut the listening connection from the server side.
	admin := open(t, url)
	postgres.Exec(t, admin, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = $1 AND query LIKE 'LISTEN%'`, app)
	waitCall(t, calls, "reconnecting") // the catch-up call after reconnecting

	ctx := t.Context()
	if err := admin.CreateTenant(ctx, tenant.Tenant{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	drain(calls)
	k, _ := newKey(t, "a")
	if err := admin.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	waitCall(t, calls, "a key creation after reconnecting")
}
