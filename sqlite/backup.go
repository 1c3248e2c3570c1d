package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"modernc.org/sqlite"
)

// Snapshot writes a consistent copy of the database at src to dst (a file
// that must not exist) with VACUUM INTO, while other connections — a
// running `bulwark serve` included — keep reading and writing src. The
// copy is the database as of one read transaction: every transaction
// committed before it began, none after. src is opened without migrating
// it, and never created: a missing file is an error wrapping
// fs.ErrNotExist.
func Snapshot(ctx context.Context, src, dst string) error {
	abs, err := filepath.Abs(src)
	if err != nil {
		return opError("snapshot database", err)
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("snapshot database: %w", err)
	}
	out, err := filepath.Abs(dst)
	if err != nil {
		return opError("snapshot database", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("snapshot database: %s exists", out)
	}
	db, err := openRaw(abs, "rw")
	if err != nil {
		return fmt.Errorf("snapshot database %s: %w", abs, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", out); err != nil {
		_ = os.Remove(out)
		return fmt.Errorf("snapshot database %s: %w", abs, err)
	}
	return nil
}

// Inspect checks the integrity of the database file at path and returns
// its schema version (the newest migration recorded in it), without
// migrating it. It is meant for a copy no one else has open: a snapshot
// about to be archived or restored.
func Inspect(ctx context.Context, path string) (int, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0, opError("inspect database", err)
	}
	if _, err := os.Stat(abs); err != nil {
		return 0, fmt.Errorf("inspect database: %w", err)
	}
	db, err := openRaw(abs, "rw")
	if err != nil {
		return 0, fmt.Errorf("inspect database %s: %w", abs, err)
	}
	defer db.Close()
	var problems []string
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return 0, fmt.Errorf("inspect database %s: %w", abs, err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			_ = rows.Close()
			return 0, fmt.Errorf("inspect database %s: %w", abs, err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("inspect database %s: %w", abs, err)
	}
	_ = rows.Close()
	if len(problems) > 0 {
		return 0, fmt.Errorf("inspect database %s: integrity check failed: %s", abs, strings.Join(problems, "; "))
	}
	var v int
	if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("inspect database %s: schema version: %w", abs, err)
	}
	return v, nil
}

// LatestSchemaVersion is the newest schema version this binary migrates
// a database to: it refuses to open a database with a newer one.
func LatestSchemaVersion() (int, error) {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return 0, err
	}
	if len(ms) == 0 {
		return 0, nil
	}
	return ms[len(ms)-1].version, nil
}

// openRaw opens the existing database file at abs without creating it,
// changing its journal mode or migrating it: one connection, with the
// busy timeout.
func openRaw(abs, mode string) (*sql.DB, error) {
	u := url.URL{Scheme: "file", OmitHost: true, Path: filepath.ToSlash(abs)}
	q := url.Values{}
	q.Set("mode", mode)
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	u.RawQuery = q.Encode()
	connector, err := sqlite.NewConnector(u.String())
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	return db, nil
}
