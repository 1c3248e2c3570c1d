package batch_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/batch"
	"github.com/bulwark-ai/bulwark/batch/batchtest"
	"github.com/bulwark-ai/bulwark/sqlite"
)

func setup(t *testing.T, n int) (*sqlite.DB, *batchtest.Files) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	fs := batchtest.NewFiles()
	batchtest.InputFile(fs, n)
	return db, fs
}

// A line that fails in a way that passes is tried again with backoff
// until it succeeds or the retries run out; a client error is not tried
// again.
func TestRetriesPassingFailures(t *testing.T) {
	db, fs := setup(t, 3)
	ex := &batchtest.Executor{Fn: func(_ context.Context, l batch.Line, call int) int {
		switch l.Index {
		case 0: // busy twice, then served
			if call <= 2 {
				return 429
			}
			return 200
		case 1: // always down
			return 503
		}
		return 400
	}}
	s := batch.New(db, ex, fs, batch.Options{Backoff: time.Millisecond, Retries: 3, Poll: 10 * time.Millisecond})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := s.Create(t.Context(), "acme", "key", "/v1/embeddings", "file-in", "24h", nil)
	if err != nil {
		t.Fatal(err)
	}
	b = batchtest.Wait(t, s, b.ID)
	if b.Status != batch.Completed || b.Counts != (batch.Counts{Total: 3, Completed: 1, Failed: 2}) {
		t.Fatalf("batch %+v", b)
	}
	if ex.Calls(0) != 3 || ex.Calls(1) != 4 || ex.Calls(2) != 1 {
		t.Errorf("calls %d %d %d, want 3, 4 (1 + 3 retries), 1", ex.Calls(0), ex.Calls(1), ex.Calls(2))
	}
	out := fs.Content(b.OutputFileID)
	errs := fs.Content(b.ErrorFileID)
	if !strings.Contains(out, `"custom_id":"c0"`) || !strings.Contains(out, `"status_code":200`) ||
		!strings.Contains(errs, `"custom_id":"c1"`) || !strings.Contains(errs, `"status_code":503`) || !strings.Contains(errs, `"custom_id":"c2"`) {
		t.Errorf("output %s\nerrors %s", out, errs)
	}
}

// A batch past its window expires: the lines done are in the output file,
// the others in the error file as batch_expired.
func TestExpires(t *testing.T) {
	db, fs := setup(t, 20)
	ex := &batchtest.Executor{Fn: func(ctx context.Context, l batch.Line, _ int) int {
		if l.Index < 2 {
			return 200
		}
		<-ctx.Done() // the rest never answer
		return 500
	}}
	s := batch.New(db, ex, fs, batch.Options{Workers: 1, Window: 300 * time.Millisecond, Poll: 10 * time.Millisecond})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := s.Create(t.Context(), "acme", "key", "/v1/embeddings", "file-in", "24h", nil)
	if err != nil {
		t.Fatal(err)
	}
	b = batchtest.Wait(t, s, b.ID)
	if b.Status != batch.Expired || b.Times.Expired == nil || b.Counts.Completed != 2 {
		t.Fatalf("batch %+v", b)
	}
	errs := fs.Content(b.ErrorFileID)
	if n := strings.Count(errs, "batch_expired"); n != 18 {
		t.Errorf("%d lines expired, want 18:\n%s", n, errs)
	}
}

// Parse lists each bad line with its number.
func TestParse(t *testing.T) {
	lines, errs := batch.Parse([]byte(`{"custom_id":"a","method":"POST","url":"/v1/embeddings","body":{"input":"x"}}

{"custom_id":"b","method":"GET","url":"/v1/embeddings","body":{}}
{"method":"POST","url":"/v1/embeddings","body":{}}
{"custom_id":"c","method":"POST","url":"/v1/embeddings","body":{"stream":true}}
{"custom_id":"d","method":"POST","url":"/v1/embeddings","body":[1]}
`), "/v1/embeddings")
	if lines != nil || len(errs) != 4 {
		t.Fatalf("lines %v errors %+v", lines, errs)
	}
	for i, want := range []int{3, 4, 5, 6} {
		if *errs[i].Line != want {
			t.Errorf("error %d on line %d, want %d", i, *errs[i].Line, want)
		}
	}
	lines, errs = batch.Parse([]byte(`{"custom_id":"a","method":"POST","url":"/v1/embeddings","body":{"input":"x"}}`), "/v1/embeddings")
	if len(errs) != 0 || len(lines) != 1 || lines[0].CustomID != "a" || string(lines[0].Body) != `{"input":"x"}` {
		t.Errorf("lines %+v errors %+v", lines, errs)
	}
	if _, errs := batch.Parse(nil, "/v1/embeddings"); len(errs) != 1 || errs[0].Code != "empty_file" {
		t.Errorf("empty file: %+v", errs)
	}
}

// FuzzParse: no input file makes Parse panic, and every line it returns
// is a request to the endpoint.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"custom_id":"a","method":"POST","url":"/v1/embeddings","body":{"input":"x"}}`))
	f.Add([]byte("{}\n\n[]\nnull\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lines, errs := batch.Parse(b, "/v1/embeddings")
		if (lines == nil) == (errs == nil) {
			t.Fatalf("lines %v and errors %v", lines, errs)
		}
		for i, l := range lines {
			if l.Index != i || l.URL != "/v1/embeddings" || l.CustomID == "" {
				t.Fatalf("line %+v", l)
			}
		}
	})
}

// Replicas sharing a store run each line once (batchtest.RunReplicas).
func TestReplicasRunEachLineOnce(t *testing.T) {
	db, _ := setup(t, 0)
	batchtest.RunReplicas(t, db)
}

// A line refused as busy (a rate limit) waits and is tried again beyond
// the retries, until it is served.
func TestBusyWaitsBeyondRetries(t *testing.T) {
	db, fs := setup(t, 1)
	ex := &batchtest.Executor{Fn: func(_ context.Context, _ batch.Line, call int) int {
		if call <= 5 {
			return 429
		}
		return 200
	}}
	busy := busyExecutor{ex}
	s := batch.New(db, busy, fs, batch.Options{Backoff: time.Millisecond, Retries: 1, Poll: 10 * time.Millisecond})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := s.Create(t.Context(), "acme", "key", "/v1/embeddings", "file-in", "24h", nil)
	if err != nil {
		t.Fatal(err)
	}
	b = batchtest.Wait(t, s, b.ID)
	if b.Status != batch.Completed || b.Counts.Completed != 1 || ex.Calls(0) != 6 {
		t.Fatalf("batch %+v after %d calls", b, ex.Calls(0))
	}
}

// busyExecutor marks 429s busy.
type busyExecutor struct{ *batchtest.Executor }

func (e busyExecutor) Execute(ctx context.Context, b batch.Batch, l batch.Line) batch.Result {
	r := e.Executor.Execute(ctx, b, l)
	r.Busy = r.StatusCode == 429
	return r
}

// flakyResults is a store whose first writes of a line's result fail, as
// SQLite's do while another connection holds the write lock too long.
type flakyResults struct {
	*sqlite.DB
	mu    sync.Mutex
	fails map[int]int // line → writes still to fail
}

func (f *flakyResults) PutBatchResult(ctx context.Context, batchID string, r batch.Result) (bool, error) {
	f.mu.Lock()
	fail := f.fails[r.Index] > 0
	if fail {
		f.fails[r.Index]--
	}
	f.mu.Unlock()
	if fail {
		return false, errors.New("store batch result: database is locked")
	}
	return f.DB.PutBatchResult(ctx, batchID, r)
}

// A result the store refuses for a moment is stored on a later try,
// without running the line upstream again.
func TestResultStoredAfterABusyStore(t *testing.T) {
	db, fs := setup(t, 2)
	store := &flakyResults{DB: db, fails: map[int]int{0: 2}}
	ex := &batchtest.Executor{Fn: func(context.Context, batch.Line, int) int { return 200 }}
	s := batch.New(store, ex, fs, batch.Options{Backoff: time.Millisecond, Poll: time.Hour})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := s.Create(t.Context(), "acme", "key", "/v1/embeddings", "file-in", "24h", nil)
	if err != nil {
		t.Fatal(err)
	}
	b = batchtest.Wait(t, s, b.ID)
	if b.Status != batch.Completed || b.Counts != (batch.Counts{Total: 2, Completed: 2}) {
		t.Fatalf("batch %+v", b)
	}
	if ex.Calls(0) != 1 || ex.Calls(1) != 1 {
		t.Errorf("calls %d %d, want each line run once", ex.Calls(0), ex.Calls(1))
	}
}
