package reqlog_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/leakcheck"
	"github.com/bulwark-ai/bulwark/reqlog"
	"github.com/bulwark-ai/bulwark/reqlog/reqlogtest"
)

// TestMain fails the run when a goroutine of Bulwark's outlives the tests.
func TestMain(m *testing.M) { leakcheck.Main(m, "bulwark-ai/bulwark/") }

// store is a Memory that can be made to fail and counts its appends.
type store struct {
	reqlogtest.Memory
	down    atomic.Bool
	appends atomic.Int64
}

func (s *store) AppendRequests(ctx context.Context, recs []reqlog.Record) error {
	s.appends.Add(1)
	if s.down.Load() {
		return errors.New("store down")
	}
	return s.Memory.AppendRequests(ctx, recs)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestWriterBatchesOffThePath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &store{}
		w := reqlog.NewWriter(s, reqlog.WriterOptions{BatchSize: 3, Logger: quiet})
		w.Start()
		for range 7 {
			w.Add(reqlog.Record{TenantID: "a", Alias: "chat", Status: 200})
		}
		synctest.Wait() // the two full batches are in
		if n := len(s.All()); n != 6 {
			t.Errorf("after two full batches: %d records stored; want 6", n)
		}
		time.Sleep(time.Second) // the flush interval takes the rest
		synctest.Wait()
		if n := len(s.All()); n != 7 {
			t.Errorf("after the flush interval: %d records stored; want 7", n)
		}
		for _, r := range s.All() {
			if !strings.HasPrefix(r.ID, "rql_") || r.Time.IsZero() {
				t.Errorf("record not completed: %+v", r)
			}
		}
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if st := w.Stats(); st.Written != 7 || st.Dropped != 0 || st.Failed != 0 {
			t.Errorf("stats = %+v", st)
		}
	})
}

func TestWriterDropsWhenFullAndNeverBlocks(t *testing.T) {
	s := &store{}
	w := reqlog.NewWriter(s, reqlog.WriterOptions{Buffer: 2, Logger: quiet})
	// Not started: nothing drains the queue, so Add must drop, not wait.
	for range 5 {
		w.Add(reqlog.Record{TenantID: "a"})
	}
	if st := w.Stats(); st.Dropped != 3 {
		t.Errorf("dropped = %d; want 3", st.Dropped)
	}
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(s.All()); n != 2 {
		t.Errorf("Close flushed %d records; want the 2 queued", n)
	}
	w.Add(reqlog.Record{TenantID: "a"}) // after Close
	if st := w.Stats(); st.Dropped != 4 {
		t.Errorf("dropped after Close = %d; want 4", st.Dropped)
	}
}

func TestWriterCountsWhatTheStoreRefuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &store{}
		s.down.Store(true)
		w := reqlog.NewWriter(s, reqlog.WriterOptions{Logger: quiet})
		w.Start()
		defer w.Close(context.Background())
		w.Add(reqlog.Record{TenantID: "a"})
		w.Add(reqlog.Record{TenantID: "a"})
		time.Sleep(time.Second)
		synctest.Wait()
		if st := w.Stats(); st.Failed != 2 || !st.Failing {
			t.Errorf("stats with the store down = %+v", st)
		}
		s.down.Store(false)
		w.Add(reqlog.Record{TenantID: "a"})
		time.Sleep(time.Second)
		synctest.Wait()
		if st := w.Stats(); st.Written != 1 || st.Failing {
			t.Errorf("stats with the store back = %+v", st)
		}
	})
}

func TestWriterMasksAndCutsContent(t *testing.T) {
	s := &store{}
	w := reqlog.NewWriter(s, reqlog.WriterOptions{MaxContentBytes: 40, Logger: quiet})
	long := strings.Repeat("x", 30) + " card 4111 1111 1111 1111"
	w.Add(reqlog.Record{TenantID: "a", RequestID: "r1", Content: &reqlog.Content{
		Messages: []reqlog.Message{
			{Role: "user", Content: "I am jane@example.com, key sk-abcdefghijklmnopqrstuvwx"},
			{Role: "user", Content: "second message"},
		},
		Completion: long,
	}})
	w.Add(reqlog.Record{TenantID: "a", RequestID: "r2", Content: &reqlog.Content{
		Messages:   []reqlog.Message{{Role: "user", Content: "call +1 (555) 123-4567"}},
		Completion: "ok",
	}})
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	r1, err := s.RequestByID(t.Context(), "", "r1")
	if err != nil {
		t.Fatal(err)
	}
	c := r1.Content
	if got := c.Messages[0].Content; got != "I am [email], key [secret]" {
		t.Errorf("first message = %q", got)
	}
	// The masked first message takes 26 of the 40 bytes; the second fits
	// the 14 left.
	if len(c.Messages) != 2 || c.Messages[1].Content != "second message" {
		t.Errorf("messages = %+v", c.Messages)
	}
	if len(c.Completion) > 40 || strings.Contains(c.Completion, "4111") || !c.Truncated {
		t.Errorf("completion = %q (truncated %v): not masked and cut to 40 bytes", c.Completion, c.Truncated)
	}
	r2, err := s.RequestByID(t.Context(), "", "r2")
	if err != nil {
		t.Fatal(err)
	}
	if r2.Content.Messages[0].Content != "call [phone]" || r2.Content.Truncated {
		t.Errorf("r2 content = %+v", r2.Content)
	}
}

func TestWriterPrunesPastRetention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &store{}
		now := time.Now()
		_ = s.Memory.AppendRequests(t.Context(), []reqlog.Record{
			{ID: "old", TenantID: "a", Time: now.Add(-3 * time.Hour)},
			{ID: "recent", TenantID: "a", Time: now.Add(-30 * time.Minute)},
		})
		w := reqlog.NewWriter(s, reqlog.WriterOptions{Retention: time.Hour, PruneInterval: 10 * time.Minute, Logger: quiet})
		w.Start()
		defer w.Close(context.Background())
		synctest.Wait() // the first prune runs at start
		if got := len(s.All()); got != 1 || w.Stats().Pruned != 1 {
			t.Fatalf("after the first prune: %d records, %d pruned", got, w.Stats().Pruned)
		}
		time.Sleep(40 * time.Minute) // "recent" passes the hour
		synctest.Wait()
		if got := len(s.All()); got != 0 || w.Stats().Pruned != 2 {
			t.Errorf("after 40 minutes: %d records, %d pruned", got, w.Stats().Pruned)
		}
	})
}

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
		cut  bool
	}{
		{"hello", 10, "hello", false},
		{"hello", 3, "hel", true},
		{"héllo", 2, "h", true}, // never half a rune
		{"", 0, "", false},
		{"x", 0, "", true},
	} {
		got, cut := reqlog.Clip(tc.s, tc.n)
		if got != tc.want || cut != tc.cut {
			t.Errorf("Clip(%q, %d) = %q, %v; want %q, %v", tc.s, tc.n, got, cut, tc.want, tc.cut)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	c := reqlog.Cursor{Time: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), ID: "rql_abc"}
	got, err := reqlog.ParseCursor(c.String())
	if err != nil || !got.Time.Equal(c.Time) || got.ID != c.ID {
		t.Errorf("ParseCursor(%q) = %+v, %v", c.String(), got, err)
	}
	for _, bad := range []string{"", "abc", "12", ".x", "-5.x", "12.", "1x.y"} {
		if _, err := reqlog.ParseCursor(bad); err == nil {
			t.Errorf("ParseCursor(%q) succeeded", bad)
		}
	}
}
