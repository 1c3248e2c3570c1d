package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/postgres"
	"github.com/bulwark-ai/bulwark/usage"
)

// switchLedger forwards to a ledger that the test can replace, as a
// replica's connection to Postgres is lost and found again.
type switchLedger struct {
	mu sync.Mutex
	l  usage.Ledger
}

func (s *switchLedger) set(l usage.Ledger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.l = l
}

func (s *switchLedger) get() usage.Ledger {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.l
}

func (s *switchLedger) Append(ctx context.Context, recs []usage.Record) error {
	return s.get().Append(ctx, recs)
}

func (s *switchLedger) Query(ctx context.Context, f usage.Filter) ([]usage.Row, error) {
	return s.get().Query(ctx, f)
}

func waitFor(t *testing.T, w *usage.Writer, what string, ok func(usage.WriterStats) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok(w.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: Stats = %+v", what, w.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestUsageWriterSurvivesOutage loses the database under a Writer and
// finds it again: every record reaches the ledger exactly once.
func TestUsageWriterSurvivesOutage(t *testing.T) {
	t.Parallel()
	url := newSchema(t)
	first, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	sw := &switchLedger{l: first}
	w, err := usage.NewWriter(sw, usage.WriterOptions{
		Dir: t.TempDir(), BatchSize: 10, FlushInterval: 10 * time.Millisecond, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	add := func(from, n int) {
		for i := from; i < from+n; i++ {
			w.Add(usage.Record{ID: fmt.Sprintf("r%03d", i), TenantID: "a", KeyID: "k", Alias: "chat", PromptTokens: 1})
		}
	}
	add(0, 25)
	waitFor(t, w, "with the database up", func(s usage.WriterStats) bool { return s.Written == 25 })

	_ = first.Close()
	add(25, 40)
	waitFor(t, w, "with the database down", func(s usage.WriterStats) bool { return s.Spilled == 40 && s.Err != nil })

	sw.set(open(t, url))
	add(65, 5)
	waitFor(t, w, "after the database came back", func(s usage.WriterStats) bool {
		return s.Replayed == 40 && s.Written == 30 && !s.Backlog
	})
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	rows, err := sw.Query(t.Context(), usage.Filter{GroupBy: usage.GroupTenant})
	if err != nil || len(rows) != 1 || rows[0].Requests != 70 || rows[0].PromptTokens != 70 {
		t.Fatalf("Query = %+v, %v; want 70 requests", rows, err)
	}
}
