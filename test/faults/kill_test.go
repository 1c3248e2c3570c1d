package faults

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the embedded store's driver, to read its ledger
)

// trials is the number of SIGKILL trials per shape.
func trials(t *testing.T) int {
	t.Helper()
	n := 100
	if s := os.Getenv("BULWARK_FAULT_TRIALS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("BULWARK_FAULT_TRIALS=%q: want a positive number", s)
		}
		n = v
	}
	return n
}

// answered is the set of request ids a client got a complete answer for.
type answered struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (a *answered) add(id string) {
	a.mu.Lock()
	a.ids[id] = true
	a.mu.Unlock()
}

// load sends chat requests (every other one streamed) from 8 clients
// until ctx ends, noting the ones answered in full.
func load(ctx context.Context, p *proc, trial int, got *answered) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				id := fmt.Sprintf("kill-%03d-%d-%04d", trial, g, n)
				if ok, _ := p.chat(ctx, id, n%2 == 1); ok {
					got.add(id)
				}
			}
		})
	}
	wg.Wait()
}

// Issue 12 item 1: a replica killed with SIGKILL under load, 100 times
// over, loses no answered request from the usage ledger and counts none
// twice, on the embedded and the scaled shape.
func TestKilledReplicaLosesNoAnsweredUsage(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		data := filepath.Join(dir, "data")
		killTrials(t, data, fastSim, func(ctx context.Context) (map[string]int, error) {
			db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "bulwark.db")+"?mode=ro&_pragma=busy_timeout(5000)")
			if err != nil {
				return nil, err
			}
			defer db.Close()
			return countRows(db.QueryContext(ctx, `SELECT request_id, count(*) FROM usage_records GROUP BY request_id`))
		})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		pg, _ := pgSchema(t, postgresURL(t))
		dir := t.TempDir()
		cfg := fastSim + fmt.Sprintf("store: {type: postgres, url: %q}\n", pg)
		killTrials(t, filepath.Join(dir, "data"), cfg, func(ctx context.Context) (map[string]int, error) {
			conn, err := pgx.Connect(ctx, pg)
			if err != nil {
				return nil, err
			}
			defer conn.Close(ctx)
			rows, err := conn.Query(ctx, `SELECT request_id, count(*) FROM usage_records GROUP BY request_id`)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			out := map[string]int{}
			for rows.Next() {
				var id string
				var n int
				if err := rows.Scan(&id, &n); err != nil {
					return nil, err
				}
				out[id] = n
			}
			return out, rows.Err()
		})
	})
}

type scanner interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}

func countRows(rows *sql.Rows, err error) (map[string]int, error) {
	if err != nil {
		return nil, err
	}
	var s scanner = rows
	defer s.Close()
	out := map[string]int{}
	for s.Next() {
		var id string
		var n int
		if err := s.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, s.Err()
}

// killTrials runs the trials over one data directory: start, load for a
// random 150-450 ms, SIGKILL. A last replica then replays what the killed
// ones left, and ledger, read once every answered request is in it or 30 s
// passed, must hold each answered request exactly once and no request
// twice.
func killTrials(t *testing.T, data, cfg string, ledger func(context.Context) (map[string]int, error)) {
	got := &answered{ids: map[string]bool{}}
	n := trials(t)
	for trial := range n {
		p := serve(t, data, cfg)
		ctx, cancel := context.WithTimeout(t.Context(), time.Duration(150+rand.IntN(300))*time.Millisecond)
		go func() { <-ctx.Done(); p.kill() }() // the kill lands while requests are in flight
		load(ctx, p, trial, got)
		cancel()
		<-p.done
	}
	if len(got.ids) < n*10 {
		t.Fatalf("only %d requests answered over %d trials: the load did not run", len(got.ids), n)
	}
	last := serve(t, data, cfg)
	var rows map[string]int
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		rows, err = ledger(t.Context())
		if err != nil {
			t.Fatalf("read the ledger: %v", err)
		}
		missing := 0
		for id := range got.ids {
			if rows[id] == 0 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := last.term(10 * time.Second); err != nil {
		t.Errorf("the last replica: %v", err)
	}
	var missing, twice []string
	for id := range got.ids {
		if rows[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id, c := range rows {
		if c > 1 {
			twice = append(twice, id)
		}
	}
	t.Logf("%d trials: %d requests answered, %d rows in the ledger", n, len(got.ids), len(rows))
	if len(missing) > 0 {
		t.Errorf("%d of %d answered requests are missing from the ledger, e.g. %v", len(missing), len(got.ids), missing[:min(5, len(missing))])
	}
	if len(twice) > 0 {
		t.Errorf("%d requests are in the ledger more than once, e.g. %v", len(twice), twice[:min(5, len(twice))])
	}
}
