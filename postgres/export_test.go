package postgres

import (
	"io/fs"
	"testing"
)

// AppliedMigrations returns the number of rows in schema_migrations.
func AppliedMigrations(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.pool.QueryRow(t.Context(), "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// KnownMigrations returns the number of embedded migrations.
func KnownMigrations(t *testing.T) int {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

// Exec runs sql on db.
func Exec(t *testing.T, db *DB, sql string, args ...any) {
	t.Helper()
	if _, err := db.pool.Exec(t.Context(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

// CheckMigrations loads the migrations in fsys.
func CheckMigrations(fsys fs.FS) error {
	_, err := loadMigrations(fsys)
	return err
}

// UsageCounted returns the usage_counted column of the usage record id.
func UsageCounted(t *testing.T, db *DB, id string) bool {
	t.Helper()
	var c bool
	if err := db.pool.QueryRow(t.Context(), "SELECT usage_counted FROM usage_records WHERE id = $1", id).Scan(&c); err != nil {
		t.Fatal(err)
	}
	return c
}
