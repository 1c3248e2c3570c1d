package postgres

import "testing"

// ExecErr runs sql on db and returns its error.
func ExecErr(t *testing.T, db *DB, sql string, args ...any) error {
	t.Helper()
	_, err := db.pool.Exec(t.Context(), sql, args...)
	return err
}
