package postgres_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/faultproxy"
	"github.com/bulwark-ai/bulwark/postgres"
	"github.com/bulwark-ai/bulwark/tenant"
)

// schemaBehindProxy returns the URL of a schema of the test's own reached
// through a faultproxy (with a 1 s connect timeout), and the proxy,
// closed when the test ends.
func schemaBehindProxy(t *testing.T) (string, *faultproxy.Proxy) {
	t.Helper()
	raw := newSchema(t)
	if !strings.HasPrefix(raw, "postgres://") && !strings.HasPrefix(raw, "postgresql://") {
		t.Skip("needs a postgres:// URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	px, err := faultproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	u.Host = px.Addr()
	q := u.Query()
	q.Set("connect_timeout", "1")
	u.RawQuery = q.Encode()
	return u.String(), px
}

// A replica must be able to start while Postgres is down: Open returns a
// DB whose methods fail with the connection error, and the first call
// after the server is back connects and migrates, without reopening.
// A server that answers but refuses the database is still an error.
func TestOpenWhileUnreachable(t *testing.T) {
	t.Parallel()
	dbURL, px := schemaBehindProxy(t)
	px.Cut()

	ctx := t.Context()
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("Open with the server unreachable: %v", err)
	}
	defer db.Close()
	if err := db.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded with the server unreachable")
	}
	if _, err := db.Keys(ctx, ""); err == nil {
		t.Fatal("Keys succeeded with the server unreachable")
	}

	if err := px.Restore(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for db.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("Ping still fails 5s after the server came back: %v", db.Ping(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := postgres.AppliedMigrations(t, db); n != postgres.KnownMigrations(t) {
		t.Errorf("schema_migrations has %d rows once reachable; want %d", n, postgres.KnownMigrations(t))
	}
	if err := db.CreateTenant(ctx, tenant.Tenant{ID: "late"}); err != nil {
		t.Fatalf("CreateTenant once reachable: %v", err)
	}

	// Reachable, but no such database: a configuration error, refused.
	if db, err := postgres.Open(ctx, withDatabase(t, testURL(), "no_such_database_x")); err == nil {
		_ = db.Close()
		t.Error("Open of a database that does not exist succeeded")
	}
}

// withDatabase returns the postgres:// URL raw naming database name.
func withDatabase(t *testing.T, raw, name string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
