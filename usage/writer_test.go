package usage_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/usage"
	"github.com/bulwark-ai/bulwark/usage/usagetest"
)

// Most tests run in synctest bubbles: time moves only when every goroutine
// is blocked, so intervals and timeouts are exact and instant.

// ledger is a usage.Ledger over a Memory that can be made to fail, and
// that records the size of every Append it is called with.
type ledger struct {
	*usagetest.Memory
	down atomic.Bool
	// block makes Append wait for its context.
	block atomic.Bool

	mu      sync.Mutex
	batches []int
}

var errDown = errors.New("ledger down")

func newLedger() *ledger { return &ledger{Memory: usagetest.NewMemory()} }

func (l *ledger) Append(ctx context.Context, recs []usage.Record) error {
	l.mu.Lock()
	l.batches = append(l.batches, len(recs))
	l.mu.Unlock()
	if l.block.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	if l.down.Load() {
		return errDown
	}
	return l.Memory.Append(ctx, recs)
}

func (l *ledger) Batches() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.batches)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newWriter(t *testing.T, l usage.Ledger, opts usage.WriterOptions) *usage.Writer {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	w, err := usage.NewWriter(l, opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func record(i int) usage.Record {
	return usage.Record{
		ID:           fmt.Sprintf("rec-%04d", i),
		Time:         time.Date(2025, 3, 14, 12, 0, i, 0, time.UTC),
		TenantID:     "a",
		KeyID:        "k",
		Alias:        "chat",
		PromptTokens: 1,
		Status:       usage.StatusOK,
	}
}

func addN(w *usage.Writer, from, n int) {
	for i := from; i < from+n; i++ {
		w.Add(record(i))
	}
}

// checkAll fails unless l holds exactly the records from..from+n-1.
func checkAll(t *testing.T, l *ledger, n int) {
	t.Helper()
	recs := l.Records()
	if len(recs) != n {
		t.Fatalf("ledger holds %d records; want %d", len(recs), n)
	}
	for i, r := range recs {
		if r.ID != record(i).ID {
			t.Fatalf("record %d is %s; want %s", i, r.ID, record(i).ID)
		}
	}
}

func spillFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "usage-spill-*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestWriterBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLedger()
		w := newWriter(t, l, usage.WriterOptions{BatchSize: 10, FlushInterval: time.Second})
		w.Start()
		addN(w, 0, 25)
		synctest.Wait()
		if got := l.Batches(); !slices.Equal(got, []int{10, 10}) {
			t.Errorf("before the interval, appends = %v; want two full batches", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := l.Batches(); !slices.Equal(got, []int{10, 10, 5}) {
			t.Errorf("after the interval, appends = %v; want the partial batch too", got)
		}
		// An idle interval appends nothing.
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if got := len(l.Batches()); got != 3 {
			t.Errorf("%d appends after idle intervals; want 3", got)
		}
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		checkAll(t, l, 25)
		if s := w.Stats(); s.Written != 25 || s.Spilled != 0 || s.Dropped != 0 || s.Err != nil {
			t.Errorf("Stats = %+v", s)
		}
	})
}

func TestWriterSpillsAndReplays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLedger()
		l.down.Store(true)
		dir := t.TempDir()
		w := newWriter(t, l, usage.WriterOptions{Dir: dir, BatchSize: 10, FlushInterval: time.Second})
		w.Start()
		addN(w, 0, 35)
		time.Sleep(time.Second)
		synctest.Wait()
		s := w.Stats()
		if s.Spilled != 35 || !s.Backlog || !errors.Is(s.Err, errDown) || l.Len() != 0 {
			t.Fatalf("with the ledger down, Stats = %+v, ledger %d; want 35 spilled", s, l.Len())
		}
		if len(spillFiles(t, dir)) == 0 {
			t.Fatal("no spill file")
		}

		// Still down: nothing is replayed, more is spilled.
		addN(w, 35, 5)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if s := w.Stats(); s.Spilled != 40 || s.Replayed != 0 {
			t.Fatalf("Stats = %+v; want 40 spilled, none replayed", s)
		}

		l.down.Store(false)
		addN(w, 40, 3)
		time.Sleep(time.Second)
		synctest.Wait()
		s = w.Stats()
		if s.Replayed != 40 || s.Written != 3 || s.Backlog || s.Err != nil {
			t.Fatalf("after recovery, Stats = %+v; want 40 replayed, 3 written, no backlog", s)
		}
		if f := spillFiles(t, dir); len(f) != 0 {
			t.Errorf("spill files left after replay: %v", f)
		}
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		checkAll(t, l, 43)
	})
}

func TestWriterSpillsWhenQueueIsFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLedger()
		w := newWriter(t, l, usage.WriterOptions{Buffer: 4, BatchSize: 100, FlushInterval: time.Second})
		// Not started: nothing drains the queue, and Add must not wait.
		addN(w, 0, 10)
		if s := w.Stats(); s.Spilled != 6 || !s.Backlog {
			t.Fatalf("Stats = %+v; want 6 spilled by Add", s)
		}
		w.Start()
		time.Sleep(time.Second)
		synctest.Wait()
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		checkAll(t, l, 10)
	})
}

func TestWriterNothingLostAcrossClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		l := newLedger()
		l.down.Store(true)
		w := newWriter(t, l, usage.WriterOptions{Dir: dir, BatchSize: 7, FlushInterval: time.Second})
		w.Start()
		addN(w, 0, 50)
		if err := w.Close(t.Context()); err != nil {
			t.Fatalf("Close with the ledger down: %v", err)
		}
		if l.Len() != 0 || len(spillFiles(t, dir)) == 0 {
			t.Fatalf("after Close, ledger %d, files %v; want everything spilled", l.Len(), spillFiles(t, dir))
		}
		// The directory is free again; records added now are refused.
		w.Add(record(99))
		if s := w.Stats(); s.Dropped != 1 {
			t.Errorf("Add after Close: Dropped = %d; want 1", s.Dropped)
		}

		// The next Writer over the directory replays, with the ledger
		// failing every other append: the replay resumes where it stopped
		// and nothing is counted twice.
		flaky := &flakyLedger{ledger: newLedger()}
		w2 := newWriter(t, flaky, usage.WriterOptions{Dir: dir, BatchSize: 7, FlushInterval: time.Second, ReplayBatches: 2})
		w2.Start()
		for range 20 {
			time.Sleep(time.Second)
			synctest.Wait()
		}
		if s := w2.Stats(); s.Backlog || s.Replayed != 50 {
			t.Errorf("Stats = %+v; want 50 replayed, no backlog", s)
		}
		if err := w2.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		checkAll(t, flaky.ledger, 50)
		if f := spillFiles(t, dir); len(f) != 0 {
			t.Errorf("spill files left: %v", f)
		}
	})
}

// flakyLedger fails every other Append, after storing the first half of
// the batch it fails: a ledger that timed out after committing part of the
// work is the worst case for double counting.
type flakyLedger struct {
	*ledger
	n atomic.Int64
}

func (f *flakyLedger) Append(ctx context.Context, recs []usage.Record) error {
	if f.n.Add(1)%2 == 0 {
		_ = f.ledger.Append(ctx, recs[:len(recs)/2])
		return errDown
	}
	return f.ledger.Append(ctx, recs)
}

func TestWriterCloseFlushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLedger()
		w := newWriter(t, l, usage.WriterOptions{BatchSize: 100, FlushInterval: time.Hour})
		w.Start()
		addN(w, 0, 5)
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		checkAll(t, l, 5)
		if err := w.Close(t.Context()); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

func TestWriterCloseNeverStarted(t *testing.T) {
	l := newLedger()
	w := newWriter(t, l, usage.WriterOptions{})
	addN(w, 0, 3)
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkAll(t, l, 3)
}

func TestWriterCloseGivesUpOnAHungLedger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		l := newLedger()
		l.block.Store(true)
		w := newWriter(t, l, usage.WriterOptions{Dir: dir, AppendTimeout: time.Hour})
		w.Start()
		addN(w, 0, 5)
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		start := time.Now()
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("Close took %v; want the 3s its context allowed", d)
		}
		if s := w.Stats(); s.Spilled != 5 {
			t.Errorf("Stats = %+v; want the 5 records spilled", s)
		}
	})
}

func TestWriterAppendTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLedger()
		l.block.Store(true)
		w := newWriter(t, l, usage.WriterOptions{BatchSize: 2, AppendTimeout: 5 * time.Second})
		w.Start()
		addN(w, 0, 2)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if s := w.Stats(); s.Spilled != 2 || !errors.Is(s.Err, context.DeadlineExceeded) {
			t.Errorf("Stats = %+v; want 2 spilled after the append timed out", s)
		}
		// A replay tried while the ledger still hangs times out too; the
		// next one succeeds.
		l.block.Store(false)
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		checkAll(t, l, 2)
	})
}

func TestWriterNormalizesAndDrops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLedger()
		now := time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
		w := newWriter(t, l, usage.WriterOptions{Now: func() time.Time { return now }})
		w.Start()
		w.Add(usage.Record{TenantID: "a", Alias: "bad\x00\xffalias" + strings.Repeat("x", 300)})
		w.Add(usage.Record{Alias: "no tenant"})
		w.Add(usage.Record{TenantID: "a", PromptTokens: -1})
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		recs := l.Records()
		if len(recs) != 1 {
			t.Fatalf("ledger holds %d records; want 1", len(recs))
		}
		r := recs[0]
		if !strings.HasPrefix(r.ID, "usg_") || !r.Time.Equal(now) || r.Status != usage.StatusOK || r.Validate() != nil {
			t.Errorf("normalized record = %+v", r)
		}
		if s := w.Stats(); s.Dropped != 2 {
			t.Errorf("Dropped = %d; want 2", s.Dropped)
		}
	})
}

func TestWriterSkipsTornSpillLines(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString(`{"id":"rec-0000","time":"2025-03-14T12:00:00Z","tenant_id":"a","status":"ok"}` + "\n")
	b.WriteString("not json\n")
	b.WriteString(`{"id":"","tenant_id":"a"}` + "\n")
	b.WriteString(`{"id":"rec-0001","time":"2025-03-14T12:00:01Z","tenant_id":"a","status":"ok"}` + "\n")
	b.WriteString(`{"id":"rec-00`) // torn by a crash
	if err := os.WriteFile(filepath.Join(dir, "usage-spill-0000000000000007.jsonl"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		l := newLedger()
		w := newWriter(t, l, usage.WriterOptions{Dir: dir})
		if !w.Stats().Backlog {
			t.Error("a left-over spill file is not a backlog")
		}
		w.Start()
		time.Sleep(time.Second)
		synctest.Wait()
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		checkAll(t, l, 2)
		if s := w.Stats(); s.Dropped != 3 || s.Replayed != 2 {
			t.Errorf("Stats = %+v; want 2 replayed, 3 bad lines dropped", s)
		}
	})
	if f := spillFiles(t, dir); len(f) != 0 {
		t.Errorf("spill files left: %v", f)
	}
}

func TestWriterOwnsItsDirectory(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, newLedger(), usage.WriterOptions{Dir: dir})
	if _, err := usage.NewWriter(newLedger(), usage.WriterOptions{Dir: dir + "/."}); err == nil {
		t.Fatal("two writers over one spill directory")
	}
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	w2 := newWriter(t, newLedger(), usage.WriterOptions{Dir: dir})
	if err := w2.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := usage.NewWriter(newLedger(), usage.WriterOptions{}); err == nil {
		t.Error("a writer without a spill directory")
	}
}

func TestWriterConcurrentAdd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLedger()
		w := newWriter(t, l, usage.WriterOptions{Buffer: 16, BatchSize: 8, FlushInterval: time.Second})
		w.Start()
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() { addN(w, g*100, 100) })
		}
		wg.Wait()
		for range 10 {
			time.Sleep(time.Second)
			synctest.Wait()
		}
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := l.Len(); n != 800 {
			s := w.Stats()
			t.Fatalf("ledger holds %d records; want 800 (stats %+v)", n, s)
		}
	})
}

// TestWriterLeavesNoGoroutine checks that Close stops and waits for the
// goroutine Start started, whether the ledger is up or down.
func TestWriterLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, down := range []bool{false, true} {
		l := newLedger()
		l.down.Store(down)
		w := newWriter(t, l, usage.WriterOptions{BatchSize: 3, FlushInterval: time.Millisecond})
		w.Start()
		addN(w, 0, 10)
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close; %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMemoryLedger(t *testing.T) {
	usagetest.Run(t, func(t *testing.T) usage.Ledger { return usagetest.NewMemory() })
}

// Every record Add returned for is in the ledger after a crash at any
// moment, once the next Writer over the directory replayed the log; none
// is counted twice, including those the ledger already held.
func TestWriterLosesNothingAcrossACrash(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("Sync=%v", sync), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dir := t.TempDir()
				l := newLedger()
				before := &ledger{Memory: l.Memory} // the crashed process's view of the store
				w := newWriter(t, before, usage.WriterOptions{Dir: dir, Sync: sync, BatchSize: 10, FlushInterval: time.Second})
				w.Start()
				addN(w, 0, 25) // two batches shipped, five waiting in memory
				time.Sleep(time.Second)
				synctest.Wait() // shipped, sealed, removed
				if f := spillFiles(t, dir); len(f) != 0 {
					t.Fatalf("log segments left after the ledger took everything: %v", f)
				}
				addN(w, 25, 17) // one batch shipped, seven in memory only
				synctest.Wait()
				if l.Len() != 35 {
					t.Fatalf("ledger holds %d before the crash; want 35", l.Len())
				}
				usage.Crash(w)
				if n := logLines(t, dir); n != 17 {
					t.Fatalf("the log holds %d records at the crash; want the 17 added since the last seal", n)
				}
				before.down.Store(true)
				if err := w.Close(t.Context()); err != nil {
					t.Fatal(err)
				}
				if n := logLines(t, dir); n != 17 {
					t.Fatalf("stopping the crashed Writer changed the log to %d records", n)
				}

				w2 := newWriter(t, l, usage.WriterOptions{Dir: dir, BatchSize: 10, FlushInterval: time.Second})
				if !w2.Stats().Backlog {
					t.Error("the log a crashed Writer left is not a backlog")
				}
				w2.Start()
				time.Sleep(time.Second)
				synctest.Wait()
				if err := w2.Close(t.Context()); err != nil {
					t.Fatal(err)
				}
				checkAll(t, l, 42)
				if f := spillFiles(t, dir); len(f) != 0 {
					t.Errorf("log segments left after replay: %v", f)
				}
			})
		})
	}
}

// A Writer whose goroutine never ran (the process died before any
// flush) still leaves every record in its log.
func TestWriterLogsBeforeAddReturns(t *testing.T) {
	dir := t.TempDir()
	l := newLedger()
	w := newWriter(t, l, usage.WriterOptions{Dir: dir})
	addN(w, 0, 5)
	if s := w.Stats(); s.Logged != 5 {
		t.Fatalf("Stats = %+v; want 5 logged", s)
	}
	usage.Crash(w)
	if n := logLines(t, dir); n != 5 {
		t.Fatalf("the log holds %d records after a crash; want 5", n)
	}
	if l.Len() != 0 {
		t.Fatalf("the ledger holds %d; the Writer never ran", l.Len())
	}
	l.down.Store(true)
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// logLines counts the records in dir's log segments.
func logLines(t *testing.T, dir string) int {
	t.Helper()
	var lines int
	for _, name := range spillFiles(t, dir) {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		lines += strings.Count(string(b), "\n")
	}
	return lines
}

// BenchmarkWriterAdd is the cost of the log on the request path: Add
// without an fsync (the default) and with one per group commit, from as many
// goroutines as -cpu says times 16 (a loaded gateway's concurrent
// requests), into a ledger that takes everything at once.
func BenchmarkWriterAdd(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("Sync=%v", sync), func(b *testing.B) {
			w, err := usage.NewWriter(usagetest.NewMemory(), usage.WriterOptions{Dir: b.TempDir(), Sync: sync, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			w.Start()
			var n atomic.Int64
			b.SetParallelism(16)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := record(0)
					r.ID = fmt.Sprintf("rec-%d", n.Add(1))
					w.Add(r)
				}
			})
			b.StopTimer()
			if err := w.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkWriterAddSerial is the latency one request's Add adds when no
// other request shares its group commit: one write and, with Sync, one
// fsync.
func BenchmarkWriterAddSerial(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("Sync=%v", sync), func(b *testing.B) {
			w, err := usage.NewWriter(usagetest.NewMemory(), usage.WriterOptions{Dir: b.TempDir(), Sync: sync, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			w.Start()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := record(0)
				i++
				r.ID = fmt.Sprintf("rec-%d", i)
				w.Add(r)
			}
			b.StopTimer()
			if err := w.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// A record the log could not take at Add (the disk failed) waits in
// memory; if the ledger then refuses it too, it is written to the log
// once the log works again and replayed from there, never left behind.
func TestWriterLogsLaterWhatTheLogMissed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "log")
		l := newLedger()
		l.down.Store(true)
		w := newWriter(t, l, usage.WriterOptions{Dir: dir, BatchSize: 100, FlushInterval: time.Second})
		w.Start()
		// The log's directory turns into a file: no segment can be opened.
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		addN(w, 0, 3)
		if s := w.Stats(); s.Logged != 0 || s.LogErr == nil {
			t.Fatalf("Stats = %+v; want nothing logged and the log's error", s)
		}
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // the ledger refuses the batch: it goes to the log
		synctest.Wait()
		if n := logLines(t, dir); n != 3 {
			t.Fatalf("the log holds %d records after the ledger refused them; want 3", n)
		}
		l.down.Store(false)
		time.Sleep(time.Second)
		synctest.Wait()
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		checkAll(t, l, 3)
		if f := spillFiles(t, dir); len(f) != 0 {
			t.Errorf("log segments left: %v", f)
		}
		if s := w.Stats(); s.Dropped != 0 || s.LogErr != nil {
			t.Errorf("Stats = %+v; want nothing dropped and the log healthy", s)
		}
	})
}
