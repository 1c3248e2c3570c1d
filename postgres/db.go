package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is an open Bulwark database on Postgres. It is safe for concurrent
// use.
type DB struct {
	pool *pgxpool.Pool
	// name is the database without its credentials, for errors.
	name string

	// initSem is held by the one caller running init; ready is set once
	// init succeeded, after which schema and keysChannel are read-only.
	initSem chan struct{}
	ready   atomic.Bool
	// lastTry and lastErr are the time and error of the last failed init,
	// guarded by initSem: callers within initRetry of it get lastErr
	// without dialling again.
	lastTry time.Time
	lastErr error

	// schema is where the tables live: the first schema of the search_path.
	schema string
	// keysChannel is the NOTIFY channel for key changes in schema.
	keysChannel string

	// kwStats caches the knowledge-base stores' BM25 statistics.
	kwStats statsCache
}

// Timings of Open and of the connection made later when the server was
// unreachable at Open.
const (
	// openTimeout bounds the first attempt to connect and migrate in Open.
	openTimeout = 10 * time.Second
	// initRetry is how long a failed attempt answers for: while the server
	// is unreachable, at most one call a second dials it.
	initRetry = time.Second
)

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string; pool settings such as pool_max_conns go in it too),
// checks that it answers, and applies any pending migrations.
//
// A connection string that does not parse, a server that refuses the
// credentials or the database, and a schema Open cannot migrate are
// errors. A server that cannot be reached (refused or timed out
// connections, a server starting up or out of connections) is not: Open
// returns the DB, every method fails with the connection error, and the
// first call that reaches the server connects and migrates, so that a
// replica can start while Postgres is down (Ping tells whether it is up).
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The error of ParseConfig may quote the URL, password included.
		return nil, errors.New("open postgres: invalid connection string")
	}
	// NewWithConfig does not dial.
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, opError("open postgres", err)
	}
	db := &DB{pool: pool, name: redact(&cfg.ConnConfig.Config), initSem: make(chan struct{}, 1)}
	octx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	if err := db.open(octx); err != nil && (ctx.Err() != nil || !unreachable(err)) {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// open connects and migrates unless that was done; see Open. Every method
// calls it first.
func (db *DB) open(ctx context.Context) error {
	if db.ready.Load() {
		return nil
	}
	select {
	case db.initSem <- struct{}{}:
	case <-ctx.Done():
		return opError("open postgres "+db.name, ctx.Err())
	}
	defer func() { <-db.initSem }()
	if db.ready.Load() {
		return nil
	}
	if db.lastErr != nil && time.Since(db.lastTry) < initRetry {
		return db.lastErr
	}
	if err := db.init(ctx); err != nil {
		db.lastTry, db.lastErr = time.Now(), opError("open postgres "+db.name, err)
		return db.lastErr
	}
	db.lastErr = nil
	db.ready.Store(true)
	return nil
}

// unreachable reports whether err says the server could not be reached
// or cannot take connections for now, as opposed to refusing what it was
// asked (credentials, database, schema).
func unreachable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 08: connection exception; 53: insufficient resources (too many
		// connections); 57: operator intervention (shutting down,
		// starting up).
		switch pe.Code[:min(2, len(pe.Code))] {
		case "08", "53", "57":
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
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
	db.keysChannel = channelName(keysTopic, db.schema)
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
	if err := db.open(ctx); err != nil {
		return err // open's error says what failed
	}
	var one int
	if err := db.pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return opError("ping postgres", err)
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
