package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is an open Bulwark database on Postgres. It is safe for concurrent
// use.
type DB struct {
	pool *pgxpool.Pool
	// schema is where the tables live: the first schema of the search_path.
	schema string
	// keysChannel is the NOTIFY channel for key changes in schema.
	keysChannel string
}

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string; pool settings such as pool_max_conns go in it too),
// checks that it answers, and applies any pending migrations.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The error of ParseConfig may quote the URL, password included.
		return nil, errors.New("open postgres: invalid connection string")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db := &DB{pool: pool}
	if err := db.init(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s: %w", redact(&cfg.ConnConfig.Config), err)
	}
	return db, nil
}

// redact names a database without its credentials.
func redact(c *pgconn.Config) string {
	return fmt.Sprintf("%s:%d/%s", c.Host, c.Port, c.Database)
}

func (db *DB) init(ctx context.Context) error {
	var schema *string
	if err := db.pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return err
	}
	if schema == nil {
		return errors.New("no schema of the search_path exists")
	}
	db.schema = *schema
	db.keysChannel = channelName("bulwark_keys", db.schema)
	return db.migrate(ctx)
}

// channelName is the NOTIFY channel for topic in schema: replicas that
// share a schema share it, and deployments in other schemas of the same
// database do not hear it.
func channelName(topic, schema string) string {
	sum := sha256.Sum256([]byte(schema))
	return topic + "_" + hex.EncodeToString(sum[:8])
}

// Close closes every connection of the pool, waiting for connections in
// use to be released. It always returns nil; the error is there so that a
// *DB is an io.Closer like the other backends.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Ping reports whether the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// SQLSTATE codes the stores map to domain errors.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func unixNano(t time.Time) int64 { return t.UnixNano() }

func fromUnixNano(ns int64) time.Time { return time.Unix(0, ns).UTC() }

func unixNanoPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	ns := t.UnixNano()
	return &ns
}

func fromUnixNanoPtr(ns *int64) *time.Time {
	if ns == nil {
		return nil
	}
	t := fromUnixNano(*ns)
	return &t
}
