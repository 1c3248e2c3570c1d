package drift

import (
	"encoding/json"
	"math"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is an OnBaseline that keeps what it is given.
type recorder struct {
	mu    sync.Mutex
	calls []Snapshot
}

func (r *recorder) onBaseline(t *testing.T) func(string, Snapshot) {
	return func(alias string, b Snapshot) {
		if alias != "gpt" {
			t.Errorf("OnBaseline for alias %q", alias)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls = append(r.calls, b)
	}
}

func (r *recorder) got() []Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Snapshot(nil), r.calls...)
}

func newHookedDetector(t *testing.T, hook func(string, Snapshot)) (*Detector, *clock) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return New(Options{Window: time.Hour, Slots: 12, MinSamples: 100, Now: c.now, OnBaseline: hook,
		KnownAlias: func(a string) bool { return a == "gpt" }}), c
}

func TestOnBaselineForTakenBaselinesOnly(t *testing.T) {
	var rec recorder
	var d *Detector
	d, c := newHookedDetector(t, func(alias string, b Snapshot) {
		// The Detector's locks are released: it can be read back.
		if cur, ok := d.Baseline(alias); !ok || !reflect.DeepEqual(cur, b) {
			t.Errorf("OnBaseline got %+v; the Detector holds %+v", b, cur)
		}
		if _, ok := d.Report(alias); !ok {
			t.Error("Report from OnBaseline failed")
		}
		rec.onBaseline(t)(alias, b)
	})
	observe(d, 200, 100)
	if n := len(rec.got()); n != 0 {
		t.Fatalf("%d calls before the first window is complete", n)
	}
	c.add(time.Hour)
	observe(d, 10, 100) // the first of these takes the first window
	calls := rec.got()
	if len(calls) != 1 || calls[0].Samples() != 200 || !calls[0].Start.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("after the first window: calls %+v; want its baseline of 200 samples", calls)
	}
	observe(d, 10, 100)
	d.Rebaseline("gpt")
	calls = rec.got()
	if len(calls) != 2 || calls[1].Samples() != 20 {
		t.Fatalf("after Rebaseline: calls %+v; want its baseline of 20 samples", calls)
	}
	// The call's snapshot is the callee's to keep.
	calls[1].Counts[PromptTokens.String()][2] = 12345
	if b, _ := d.Baseline("gpt"); b.Counts[PromptTokens.String()][2] != 20 {
		t.Errorf("changing OnBaseline's snapshot changed the Detector's baseline: %v", b.Counts)
	}

	// Loading a baseline is not taking one.
	d2, _ := newHookedDetector(t, rec.onBaseline(t))
	if err := d2.SetBaseline("gpt", calls[0]); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.got()); n != 2 {
		t.Errorf("SetBaseline called OnBaseline: %d calls", n)
	}
}

func TestOnBaselineFromReport(t *testing.T) {
	var rec recorder
	d, c := newHookedDetector(t, rec.onBaseline(t))
	observe(d, 150, 100)
	c.add(time.Hour)
	// No request after the first window: a report (or a scrape) takes it.
	if r, _ := d.Report("gpt"); r.BaselineSamples != 150 {
		t.Fatalf("report: baseline samples %d, want 150", r.BaselineSamples)
	}
	if calls := rec.got(); len(calls) != 1 || calls[0].Samples() != 150 {
		t.Errorf("calls = %+v; want the first window's baseline", calls)
	}
}

// Baselines taken at once are delivered one call at a time, in the order
// they were taken: the last call holds the baseline in force.
func TestOnBaselineCallsInOrder(t *testing.T) {
	var rec recorder
	var inside atomic.Int32
	hook := rec.onBaseline(t)
	d, _ := newHookedDetector(t, func(alias string, b Snapshot) {
		if inside.Add(1) != 1 {
			t.Error("OnBaseline calls for one alias overlap")
		}
		hook(alias, b)
		inside.Add(-1)
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				observe(d, 1, 100)
				d.Rebaseline("gpt")
			}
		})
	}
	wg.Wait()
	calls := rec.got()
	if len(calls) != 400 {
		t.Fatalf("%d calls for 400 baselines", len(calls))
	}
	// The clock stands still: each baseline holds every observation so
	// far, so the sample counts never fall in the order taken.
	for i := 1; i < len(calls); i++ {
		if calls[i].Samples() < calls[i-1].Samples() {
			t.Fatalf("call %d has %d samples after a call with %d: out of order", i, calls[i].Samples(), calls[i-1].Samples())
		}
	}
	if cur, _ := d.Baseline("gpt"); !reflect.DeepEqual(calls[len(calls)-1], cur) {
		t.Errorf("last call %+v; the baseline in force is %+v", calls[len(calls)-1], cur)
	}
}

// A Snapshot survives JSON exactly: nanosecond times and every count up
// to the largest uint64.
func TestSnapshotJSONRoundTrip(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 123456789, time.UTC)}
	d := New(Options{Now: c.now})
	for i := range 500 {
		ob := Observation{Alias: "gpt", PromptTokens: i * 37, OutputTokens: i * 11, Latency: time.Duration(i) * 7 * time.Millisecond, FinishReason: "stop"}
		switch i % 10 {
		case 1:
			ob.FinishReason = "length"
		case 2:
			ob.ErrorKind = "timeout"
		case 3:
			ob.ErrorKind = "made-up"
		}
		d.Observe(ob)
	}
	c.add(90*time.Second + 7)
	d.Rebaseline("gpt")
	b, ok := d.Baseline("gpt")
	if !ok {
		t.Fatal("no baseline")
	}
	b.Counts[PromptTokens.String()][0] = math.MaxUint64
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b, back) {
		t.Errorf("round trip through %s:\n got %+v\nwant %+v", raw, back, b)
	}
	if err := New(Options{}).SetBaseline("gpt", back); err != nil {
		t.Errorf("SetBaseline of the round-tripped snapshot: %v", err)
	}
}
