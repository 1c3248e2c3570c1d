package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/bulwark-ai/bulwark/sqlite"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/tenant/tenanttest"
)

func open(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestTenantStore(t *testing.T) {
	tenanttest.Run(t, func(t *testing.T) tenant.Store {
		return open(t, filepath.Join(t.TempDir(), "bulwark.db"))
	})
}

func TestOpenCreatesDirectoryAndUsesWAL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "bulwark.db")
	db := open(t, path)
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("parent directory: %v; want mode 0700", err)
	}
	// WAL mode keeps a -wal file beside the database while it is open.
	if err := db.CreateTenant(t.Context(), tenant.Tenant{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("no WAL file: %v", err)
	}
}

func TestReopenKeepsDataAndMigrationsAreIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bulwark.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateTenant(t.Context(), tenant.Tenant{ID: "kept", Name: "Kept"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		db := open(t, path)
		got, err := db.Tenant(t.Context(), "kept")
		if err != nil || got.Name != "Kept" {
			t.Fatalf("after reopening, Tenant = %+v, %v", got, err)
		}
		if n := sqlite.AppliedMigrations(t, db); n != sqlite.KnownMigrations(t) {
			t.Errorf("schema_migrations has %d rows; want %d", n, sqlite.KnownMigrations(t))
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bulwark.db")
	db := open(t, path)
	sqlite.SetSchemaVersion(t, db, 9999)
	if _, err := sqlite.Open(t.Context(), path); err == nil {
		t.Fatal("Open of a database from a newer binary succeeded")
	}
}

func TestBadMigrationNames(t *testing.T) {
	for _, name := range []string{"migrations/tenants.sql", "migrations/0_x.sql", "migrations/x_y.sql"} {
		if err := sqlite.CheckMigrations(fstest.MapFS{name: {Data: []byte("SELECT 1;")}}); err == nil {
			t.Errorf("migration file %s accepted", name)
		}
	}
	dup := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("SELECT 1;")},
		"migrations/001_b.sql":  {Data: []byte("SELECT 1;")},
	}
	if err := sqlite.CheckMigrations(dup); err == nil {
		t.Errorf("two migrations with one number accepted")
	}
}

func TestKeysTableRejectsSecrets(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "bulwark.db"))
	ctx := t.Context()
	if err := db.CreateTenant(ctx, tenant.Tenant{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	secret, prefix, _, _ := tenant.NewSecret()
	err := db.CreateKey(ctx, tenant.Key{ID: "key_x", TenantID: "a", Prefix: prefix, Hash: secret})
	if err == nil {
		t.Fatal("a key whose hash is a secret was stored")
	}
}

func TestAuditLog(t *testing.T) {
	tenanttest.RunAudit(t, func(t *testing.T) tenant.Auditor {
		return open(t, filepath.Join(t.TempDir(), "bulwark.db"))
	})
}
