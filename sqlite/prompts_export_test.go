package sqlite

import "context"

// ExecForTest runs SQL on db, around its methods.
func ExecForTest(ctx context.Context, db *DB, query string) error {
	_, err := db.db.ExecContext(ctx, query)
	return err
}
