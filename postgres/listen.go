package postgres

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
)

// Timings of ListenKeys.
const (
	// listenPing is how long the listener waits for a notification before
	// it checks that its connection is alive: a connection cut without a
	// reset would otherwise wait forever.
	listenPing = 30 * time.Second
	// pingTimeout bounds that check.
	pingTimeout = 5 * time.Second
	// Reconnection backoff, doubled after each failure up to the maximum,
	// with jitter so that replicas do not reconnect in step.
	listenMinBackoff = 100 * time.Millisecond
	listenMaxBackoff = 5 * time.Second
)

// notifyKeys queues a notification of a change to key id on tx; Postgres
// delivers it when tx commits, and never if it rolls back.
func (db *DB) notifyKeys(ctx context.Context, tx pgx.Tx, id string) error {
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", db.keysChannel, id)
	return err
}

// ListenKeys calls onChange whenever a key is created or revoked, or the
// limits or attributes (aliases, priority, tags) of a key or tenant change,
// through any DB on this database and schema (another replica, the CLI),
// so that the caller can reload its key set: wire it to
// tenant.Keyring.Reload and a revoked key stops working, and a new alias
// mapping takes effect, on every replica within a second. onChange is
// also called after every (re)connection, because changes made while no
// connection listened were not heard.
//
// ListenKeys holds one connection of its own, outside the pool. It blocks
// until ctx is done, reconnecting with backoff when the connection fails
// (each failure is logged to log, or slog.Default() if nil), and calls
// onChange on its own goroutine, one call at a time. The caller owns that
// goroutine.
func (db *DB) ListenKeys(ctx context.Context, onChange func(), log *slog.Logger) {
	db.listenLoop(ctx, keysTopic, "key", onChange, log)
}

// listenLoop listens on the channel of topic until ctx is done,
// reconnecting with backoff, as ListenKeys describes; what names the
// changes in the log.
func (db *DB) listenLoop(ctx context.Context, topic, what string, onChange func(), log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	backoff := listenMinBackoff
	for {
		err := db.listen(ctx, topic, onChange, func() { backoff = listenMinBackoff })
		if ctx.Err() != nil {
			return
		}
		log.Warn("listening for "+what+" changes failed; reconnecting", "err", err, "retry_in", backoff)
		d := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, listenMaxBackoff)
	}
}

// listen connects, listens on the channel of topic, and calls onChange for
// each notification until the connection fails or ctx is done. listening
// is called once LISTEN is in force.
func (db *DB) listen(ctx context.Context, topic string, onChange, listening func()) error {
	// The channel is named for the schema, known once the DB is open.
	if err := db.open(ctx); err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, db.pool.Config().ConnConfig)
	if err != nil {
		return opError("connect", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channelName(topic, db.schema)}.Sanitize()); err != nil {
		return opError("listen", err)
	}
	listening()
	onChange()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			onChange()
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) || wctx.Err() != nil:
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			_, err := conn.Exec(pctx, "SELECT 1")
			cancel()
			if err != nil {
				return opError("ping", err)
			}
		default:
			return opError("wait for notification", err)
		}
	}
}
