package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// busyTimeout is how long a statement waits for another connection's write
// lock before failing with SQLITE_BUSY.
const busyTimeout = 5 * time.Second

// DB is an open Bulwark database. It is safe for concurrent use.
type DB struct {
	db *sql.DB
}

// Open opens the database at path, creating it and its parent directory
// (mode 0700) if needed, and applies any pending migrations.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("open database: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, opError("open database", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, opError("open database", err)
	}
	connector, err := sqlite.NewConnector(dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", abs, err)
	}
	db := &DB{db: sql.OpenDB(connector)}
	if err := db.init(ctx); err != nil {
		_ = db.db.Close()
		return nil, fmt.Errorf("open database %s: %w", abs, err)
	}
	return db, nil
}

// dsn returns the driver's data source name for the file at abs. Every
// connection the pool opens gets the same settings; write transactions
// begin IMMEDIATE so that they take the write lock up front (and wait for it
// under the busy timeout) instead of failing when they upgrade from a read.
func dsn(abs string) string {
	u := url.URL{Scheme: "file", OmitHost: true, Path: filepath.ToSlash(abs)}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Set("_txlock", "immediate")
	u.RawQuery = q.Encode()
	return u.String()
}

func (db *DB) init(ctx context.Context) error {
	var mode string
	if err := db.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, not WAL", mode)
	}
	return db.migrate(ctx)
}

// Close closes the database.
func (db *DB) Close() error { return db.db.Close() }

// Ping reports whether the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return opError("ping database", err)
	}
	return nil
}

// errCode returns the extended SQLite result code of err, or 0.
func errCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

// isUnique reports whether err is a violated primary key or unique index.
func isUnique(err error) bool {
	c := errCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || c == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// isForeignKey reports whether err is a violated foreign key.
func isForeignKey(err error) bool {
	return errCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// timeFormat is RFC 3339 with fixed-width nanoseconds: in UTC, stored times
// sort as text in time order.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}

func formatTimePtr(t *time.Time) sql.NullString {
	if t == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: formatTime(*t), Valid: true}
}

func parseTimePtr(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}
