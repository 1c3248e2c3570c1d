package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwark-ai/bulwark/postgres"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/tenant/tenanttest"
	"github.com/bulwark-ai/bulwark/usage"
	"github.com/bulwark-ai/bulwark/usage/usagetest"
)

// testURL is the server the tests use: BULWARK_TEST_POSTGRES_URL, or a
// local one with trust authentication.
func testURL() string {
	if u := os.Getenv("BULWARK_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

var (
	reachOnce sync.Once
	reachErr  error
)

// requirePostgres skips the test when the server is unreachable, except
// in CI (CI=true), where that is a failure.
func requirePostgres(t *testing.T) {
	t.Helper()
	reachOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, testURL())
		if err != nil {
			reachErr = err
			return
		}
		reachErr = conn.Ping(ctx)
		_ = conn.Close(ctx)
	})
	if reachErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("postgres at BULWARK_TEST_POSTGRES_URL is required in CI: %v", reachErr)
		}
		t.Skipf("postgres unreachable (set BULWARK_TEST_POSTGRES_URL): %v", reachErr)
	}
}

// adminExec runs sql on a connection of its own.
func adminExec(t *testing.T, ctx context.Context, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, testURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
}

// newSchema creates a schema that lives until the test ends and returns
// a connection URL whose search_path selects it.
func newSchema(t *testing.T) string {
	t.Helper()
	requirePostgres(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "bulwark_test_" + hex.EncodeToString(b[:])
	adminExec(t, t.Context(), "CREATE SCHEMA "+schema)
	t.Cleanup(func() {
		// t.Context is already canceled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		adminExec(t, ctx, "DROP SCHEMA "+schema+" CASCADE")
	})
	return withParam(t, testURL(), "search_path", schema)
}

func withParam(t *testing.T, raw, key, value string) string {
	t.Helper()
	if !strings.HasPrefix(raw, "postgres://") && !strings.HasPrefix(raw, "postgresql://") {
		return raw + " " + key + "=" + value
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func open(t *testing.T, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// newDB opens a database in a fresh schema.
func newDB(t *testing.T) *postgres.DB { return open(t, newSchema(t)) }

func TestTenantStore(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	tenanttest.Run(t, func(t *testing.T) tenant.Store { return newDB(t) })
}

func TestUsageLedger(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	usagetest.Run(t, func(t *testing.T) usage.Ledger { return newDB(t) })
}

// TestUsageCountedIsStored: a record whose usage Bulwark counted (a
// stream call that broke without reporting usage) says so in the ledger.
func TestUsageCountedIsStored(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	db := newDB(t)
	now := time.Now()
	if err := db.Append(t.Context(), []usage.Record{
		{ID: "counted", Time: now, TenantID: "acme", Status: "stream_broken", Stream: true, PromptTokens: 9, CompletionTokens: 40, UsageCounted: true},
		{ID: "reported", Time: now, TenantID: "acme", Status: usage.StatusOK, Stream: true, PromptTokens: 9, CompletionTokens: 60},
	}); err != nil {
		t.Fatal(err)
	}
	if !postgres.UsageCounted(t, db, "counted") || postgres.UsageCounted(t, db, "reported") {
		t.Error("usage_counted is not stored as the records say")
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	if err := newDB(t).Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestReplicasMigrateOnce(t *testing.T) {
	t.Parallel()
	url := newSchema(t)
	const replicas = 6
	var wg sync.WaitGroup
	dbs := make([]*postgres.DB, replicas)
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Go(func() { dbs[i], errs[i] = postgres.Open(t.Context(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: Open: %v", i, err)
		}
		defer func() { _ = dbs[i].Close() }()
	}
	if n := postgres.AppliedMigrations(t, dbs[0]); n != postgres.KnownMigrations(t) {
		t.Errorf("schema_migrations has %d rows; want %d", n, postgres.KnownMigrations(t))
	}
	// The replicas share one store.
	if err := dbs[1].CreateTenant(t.Context(), tenant.Tenant{ID: "shared"}); err != nil {
		t.Fatal(err)
	}
	if _, err := dbs[4].Tenant(t.Context(), "shared"); err != nil {
		t.Errorf("a tenant created by one replica is not seen by another: %v", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	url := newSchema(t)
	db, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateTenant(t.Context(), tenant.Tenant{ID: "kept", Name: "Kept"}); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	db = open(t, url)
	if got, err := db.Tenant(t.Context(), "kept"); err != nil || got.Name != "Kept" {
		t.Fatalf("after reopening, Tenant = %+v, %v", got, err)
	}
	if n := postgres.AppliedMigrations(t, db); n != postgres.KnownMigrations(t) {
		t.Errorf("schema_migrations has %d rows; want %d", n, postgres.KnownMigrations(t))
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	url := newSchema(t)
	db := open(t, url)
	postgres.Exec(t, db, "INSERT INTO schema_migrations (version, name) VALUES (9999, 'future.sql')")
	if db, err := postgres.Open(t.Context(), url); err == nil {
		_ = db.Close()
		t.Fatal("Open of a database from a newer binary succeeded")
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	if _, err := postgres.Open(t.Context(), "postgres://user:hunter2@[bad"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Open(bad URL) = %v; want an error without the password", err)
	}
	// A search_path naming no existing schema leaves nowhere to migrate.
	if _, err := postgres.Open(t.Context(), withParam(t, testURL(), "search_path", "no_such_schema_x")); err == nil {
		t.Errorf("Open with a missing schema succeeded")
	}
}

func TestBadMigrationNames(t *testing.T) {
	for _, name := range []string{"migrations/tenants.sql", "migrations/0_x.sql", "migrations/x_y.sql"} {
		if err := postgres.CheckMigrations(fstest.MapFS{name: {Data: []byte("SELECT 1;")}}); err == nil {
			t.Errorf("migration file %s accepted", name)
		}
	}
	dup := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("SELECT 1;")},
		"migrations/001_b.sql":  {Data: []byte("SELECT 1;")},
	}
	if err := postgres.CheckMigrations(dup); err == nil {
		t.Errorf("two migrations with one number accepted")
	}
}

func TestKeysTableRejectsSecrets(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	if err := db.CreateTenant(ctx, tenant.Tenant{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	secret, prefix, _, _ := tenant.NewSecret()
	if err := db.CreateKey(ctx, tenant.Key{ID: "key_x", TenantID: "a", Prefix: prefix, Hash: secret}); err == nil {
		t.Fatal("a key whose hash is a secret was stored")
	}
}

func TestAuditLog(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	tenanttest.RunAudit(t, func(t *testing.T) tenant.Auditor { return newDB(t) })
}
