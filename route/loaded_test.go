package route

import (
	"sync"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

// reports is a LoadSource answering from a map by "provider/model".
type reports struct {
	mu sync.Mutex
	m  map[string]UpstreamLoad
}

func (r *reports) UpstreamLoad(provider, model string) (UpstreamLoad, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.m[provider+"/"+model]
	return l, ok
}

func loadedRoute(t *testing.T, src LoadSource, targets ...string) *Route {
	t.Helper()
	m := config.Model{Name: "chat", Balance: config.BalanceLeastLoaded}
	provs := map[string]llm.Provider{}
	for _, p := range targets {
		m.Targets = append(m.Targets, config.Target{Provider: p, Model: "m"})
		provs[p] = nil
	}
	tbl, err := New([]config.Model{m}, provs, nil)
	if err != nil {
		t.Fatal(err)
	}
	tbl.UseLoad(src)
	r, _ := tbl.Lookup("chat")
	return r
}

// every returns how often each target wins over every value of a random
// source that returns i (mod n) on its i-th call, for calls in [0, n).
func every(r *Route, n int) map[string]int {
	wins := map[string]int{}
	for i := range n {
		wins[r.Pick(func(k int) int { return i % k }, nil).Provider]++
	}
	return wins
}

// With fresh reports everywhere, the target whose server has the fewest
// waiting plus running requests wins, whatever the random source says.
func TestLeastLoadedPicksTheShortestQueue(t *testing.T) {
	src := &reports{m: map[string]UpstreamLoad{
		"a/m": {Waiting: 4, Running: 8},
		"b/m": {Waiting: 0, Running: 3},
		"c/m": {Waiting: 1, Running: 6},
	}}
	r := loadedRoute(t, src, "a", "b", "c")
	if w := every(r, 6); w["b"] != 6 {
		t.Errorf("wins %v, want b always", w)
	}
	// This replica's outstanding calls count too: a report may be up to an
	// interval old.
	var dones []func()
	for range 5 {
		done := r.Targets[1].Health.Load.Begin()
		dones = append(dones, func() { done(0, false) })
	}
	if w := every(r, 6); w["c"] != 6 {
		t.Errorf("with 5 calls outstanding on b: wins %v, want c always", w)
	}
	for _, d := range dones {
		d()
	}
}

// Ties are shared: each tied target can win.
func TestLeastLoadedSharesTies(t *testing.T) {
	src := &reports{m: map[string]UpstreamLoad{
		"a/m": {Running: 2}, "b/m": {Running: 2}, "c/m": {Running: 9},
	}}
	r := loadedRoute(t, src, "a", "b", "c")
	w := every(r, 4)
	if w["a"] == 0 || w["b"] == 0 || w["c"] != 0 {
		t.Errorf("wins %v, want a and b both, never c", w)
	}
}

// A target whose KV cache is over KVCacheFull is avoided while another
// has room, even with a shorter queue; when all are full, the queue
// decides.
func TestLeastLoadedAvoidsAFullKVCache(t *testing.T) {
	src := &reports{m: map[string]UpstreamLoad{
		"a/m": {Running: 1, KVCache: 0.95, HasKVCache: true},
		"b/m": {Running: 6, KVCache: 0.5, HasKVCache: true},
	}}
	r := loadedRoute(t, src, "a", "b")
	if w := every(r, 4); w["b"] != 4 {
		t.Errorf("wins %v, want b always (a's KV cache is full)", w)
	}
	src.mu.Lock()
	src.m["b/m"] = UpstreamLoad{Running: 6, KVCache: 0.97, HasKVCache: true}
	src.mu.Unlock()
	if w := every(r, 4); w["a"] != 4 {
		t.Errorf("all full: wins %v, want a always (the shorter queue)", w)
	}
	// A full target is avoided even when the other has no report.
	src.mu.Lock()
	delete(src.m, "b/m")
	src.mu.Unlock()
	if w := every(r, 4); w["b"] != 4 {
		t.Errorf("a full, b unknown: wins %v, want b always", w)
	}
}

// Without a fresh report for every candidate, least_loaded is least
// outstanding: the reports of the others are not compared with nothing.
func TestLeastLoadedFallsBackToLeastOutstanding(t *testing.T) {
	src := &reports{m: map[string]UpstreamLoad{"a/m": {Running: 0}}} // b: stale or never scraped
	r := loadedRoute(t, src, "a", "b")
	done := r.Targets[0].Health.Load.Begin() // a has one call outstanding
	defer done(0, false)
	if w := every(r, 4); w["b"] != 4 {
		t.Errorf("wins %v, want b always (fewer outstanding calls)", w)
	}
	// No source at all: the same.
	r = loadedRoute(t, nil, "a", "b")
	done2 := r.Targets[1].Health.Load.Begin()
	defer done2(0, false)
	if w := every(r, 4); w["a"] != 4 {
		t.Errorf("no source: wins %v, want a always", w)
	}
}

// Open breakers and skipped targets are left out before the policy runs.
func TestLeastLoadedHonoursSkip(t *testing.T) {
	src := &reports{m: map[string]UpstreamLoad{"a/m": {}, "b/m": {Running: 50}, "c/m": {Running: 60}}}
	r := loadedRoute(t, src, "a", "b", "c")
	skipA := func(t *Target) bool { return t.Provider == "a" }
	for i := range 4 {
		if got := r.Pick(func(k int) int { return i % k }, skipA).Provider; got != "b" {
			t.Fatalf("pick %d = %s, want b", i, got)
		}
	}
}
