package drift

import (
	"encoding/json"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestPSIKnownValues(t *testing.T) {
	cases := []struct {
		name             string
		expected, actual []uint64
		want             float64
	}{
		{"identical", []uint64{10, 20, 30}, []uint64{1, 2, 3}, 0},
		// Σ (a−e)·ln(a/e) with e = ¼ each and a = .1 .2 .3 .4.
		{"uniform to skewed", []uint64{25, 25, 25, 25}, []uint64{10, 20, 30, 40}, 0.2282174095733918},
		// The empty bucket counts as 1e-4: 2·(−.25·ln .5) + (.5−1e-4)·ln(5000).
		{"new bucket", []uint64{50, 50, 0}, []uint64{25, 25, 50}, 4.60431846666895},
	}
	for _, c := range cases {
		if got := PSI(c.expected, c.actual); !near(got, c.want) {
			t.Errorf("%s: PSI = %v, want %v", c.name, got, c.want)
		}
	}
	if !math.IsNaN(PSI([]uint64{0, 0}, []uint64{1, 1})) || !math.IsNaN(PSI([]uint64{1}, []uint64{1, 1})) {
		t.Error("PSI of an empty or mismatched histogram is not NaN")
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestDetector() (*Detector, *clock) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	d := New(Options{Window: time.Hour, Slots: 12, MinSamples: 100, KnownAlias: func(a string) bool { return a == "gpt" }, Now: c.now})
	return d, c
}

func observe(d *Detector, n, prompt int) {
	for range n {
		d.Observe(Observation{Alias: "gpt", PromptTokens: prompt, OutputTokens: 100, Latency: 300 * time.Millisecond, FinishReason: "stop"})
	}
}

func score(t *testing.T, d *Detector, dim Dimension) Score {
	t.Helper()
	r, ok := d.Report("gpt")
	if !ok {
		t.Fatal("gpt not tracked")
	}
	return r.Scores[dim]
}

func TestDetectorBaselineAndDrift(t *testing.T) {
	d, c := newTestDetector()
	observe(d, 200, 100) // prompt bucket [64, 256)
	if _, ok := d.Baseline("gpt"); ok {
		t.Fatal("baseline before the first window is complete")
	}
	c.add(time.Hour)
	// Half the prompts are now in bucket [1024, 4096).
	observe(d, 100, 100)
	observe(d, 100, 2000)
	b, ok := d.Baseline("gpt")
	if !ok || b.Samples() != 200 {
		t.Fatalf("baseline = %+v, %v; want the first window's 200 samples", b, ok)
	}
	if s := score(t, d, PromptTokens); !s.Ready || !near(s.PSI, 4.60431846666895) {
		t.Errorf("prompt tokens score = %+v, want PSI 4.604318", s)
	}
	for _, dim := range []Dimension{OutputTokens, Latency, FinishReason, ErrorKind} {
		if s := score(t, d, dim); !s.Ready || s.PSI != 0 {
			t.Errorf("%s score = %+v, want 0", dim, s)
		}
	}

	// Errors change the error-kind distribution: 100 successes, 100 timeouts
	// against a baseline of successes only.
	c.add(time.Hour)
	observe(d, 100, 100)
	for range 100 {
		d.Observe(Observation{Alias: "gpt", PromptTokens: 100, ErrorKind: "timeout"})
	}
	if s := score(t, d, ErrorKind); !near(s.PSI, 4.60431846666895) {
		t.Errorf("error kind PSI = %v", s.PSI)
	}
	// Output tokens count successes only: the 100 successes match the
	// baseline.
	if s := score(t, d, OutputTokens); !s.Ready || s.PSI != 0 {
		t.Errorf("output tokens score = %+v", s)
	}

	// The window rolls: an hour later with no traffic, nothing is current.
	c.add(time.Hour)
	if r, _ := d.Report("gpt"); r.CurrentSamples != 0 || r.BaselineSamples != 200 {
		t.Errorf("after an idle hour: current %d baseline %d", r.CurrentSamples, r.BaselineSamples)
	}
}

func TestDetectorRollsSlotBySlot(t *testing.T) {
	d, c := newTestDetector()
	for range 12 {
		observe(d, 10, 100)
		c.add(5 * time.Minute)
	}
	// 12 slots of 10: the window now holds the last 11 (the current slot is
	// empty).
	if r, _ := d.Report("gpt"); r.CurrentSamples != 110 {
		t.Errorf("current samples = %d, want 110", r.CurrentSamples)
	}
}

func TestRebaselineAndStoredBaseline(t *testing.T) {
	d, _ := newTestDetector()
	observe(d, 150, 2000)
	if !d.Rebaseline("gpt") {
		t.Fatal("rebaseline of a tracked alias failed")
	}
	b, ok := d.Baseline("gpt")
	if !ok || b.Samples() != 150 {
		t.Fatalf("baseline = %+v", b)
	}
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var stored Snapshot
	if err := json.Unmarshal(raw, &stored); err != nil {
		t.Fatal(err)
	}
	d2, _ := newTestDetector()
	if err := d2.SetBaseline("gpt", stored); err != nil {
		t.Fatal(err)
	}
	observe(d2, 150, 2000)
	if s := score(t, d2, PromptTokens); !s.Ready || s.PSI != 0 {
		t.Errorf("score against the stored baseline = %+v", s)
	}
	stored.Counts["latency"] = []uint64{1}
	if err := d2.SetBaseline("gpt", stored); err == nil {
		t.Error("a baseline with the wrong buckets was accepted")
	}
	if d.Rebaseline("nope") {
		t.Error("rebaseline of an unknown alias")
	}
}

func TestUnknownAliasesDropped(t *testing.T) {
	d, _ := newTestDetector()
	d.Observe(Observation{Alias: "made-up", PromptTokens: 1})
	if got := d.Aliases(); len(got) != 0 {
		t.Errorf("aliases = %v", got)
	}
	capped := New(Options{MaxAliases: 2})
	for _, a := range []string{"a", "b", "c"} {
		capped.Observe(Observation{Alias: a, PromptTokens: 1})
	}
	if got := capped.Aliases(); len(got) != 2 {
		t.Errorf("aliases beyond the cap tracked: %v", got)
	}
}

func TestCollector(t *testing.T) {
	d, c := newTestDetector()
	reg := prometheus.NewRegistry()
	reg.MustRegister(d)
	observe(d, 200, 100)
	c.add(time.Hour)
	observe(d, 200, 2000)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			found[key] = m.GetGauge().GetValue()
		}
	}
	// All 200 current prompts moved from bucket 2 to bucket 4:
	// (1e-4−1)·ln(1e-4) + (1−1e-4)·ln(1e4).
	want := 2 * (1 - 1e-4) * math.Log(1e4)
	if got := found["bulwark_drift_psi,alias=gpt,dimension=prompt_tokens"]; !near(got, want) {
		t.Errorf("bulwark_drift_psi prompt_tokens = %v, want %v (all: %v)", got, want, found)
	}
	if found["bulwark_drift_samples,alias=gpt,window=current"] != 200 || found["bulwark_drift_samples,alias=gpt,window=baseline"] != 200 {
		t.Errorf("samples: %v", found)
	}
	if _, ok := found["bulwark_drift_baseline_start_timestamp_seconds,alias=gpt"]; !ok {
		t.Error("no baseline start")
	}
}

func TestConcurrentObserveAndCollect(t *testing.T) {
	d, c := newTestDetector()
	reg := prometheus.NewRegistry()
	reg.MustRegister(d)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 500 {
				d.Observe(Observation{Alias: "gpt", PromptTokens: j, OutputTokens: i, Latency: time.Duration(j) * time.Millisecond})
				if j%100 == 0 {
					c.add(time.Minute)
					_, _ = reg.Gather()
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkObserve(b *testing.B) {
	d := New(Options{})
	ob := Observation{Alias: "gpt", PromptTokens: 500, OutputTokens: 200, Latency: time.Second, FinishReason: "stop"}
	b.ReportAllocs()
	for b.Loop() {
		d.Observe(ob)
	}
}
