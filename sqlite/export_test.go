package sqlite

import (
	"io/fs"
	"testing"
)

// AppliedMigrations returns the number of rows in schema_migrations.
func AppliedMigrations(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.db.QueryRowContext(t.Context(), "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
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

// SetSchemaVersion records a migration with the given version as applied.
func SetSchemaVersion(t *testing.T, db *DB, v int) {
	t.Helper()
	if _, err := db.db.ExecContext(t.Context(),
		"INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future.sql', '')", v); err != nil {
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
	if err := db.db.QueryRowContext(t.Context(), "SELECT usage_counted FROM usage_records WHERE id = ?", id).Scan(&c); err != nil {
		t.Fatal(err)
	}
	return c
}
