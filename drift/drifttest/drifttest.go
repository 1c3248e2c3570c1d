package drifttest

import (
	"fmt"
	"math"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/drift"
)

// Run runs the conformance suite against stores made by newStore, which
// is called once per subtest and must return an empty store that lives
// until the test ends.
func Run(t *testing.T, newStore func(t *testing.T) drift.BaselineStore) {
	t.Run("Empty", func(t *testing.T) { testEmpty(t, newStore(t)) })
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newStore(t)) })
	t.Run("Replace", func(t *testing.T) { testReplace(t, newStore(t)) })
	t.Run("EmptyAlias", func(t *testing.T) { testEmptyAlias(t, newStore(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, newStore(t)) })
}

// zone is a fixed non-UTC location: stores return times in UTC whatever
// location a baseline's times are in.
var zone = time.FixedZone("UTC-7", -7*3600)

// t0 is the clock of the first fixture, with nanoseconds: stores keep
// them.
var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.UTC)

// Taken returns a baseline as a Detector takes it (Rebaseline) after n
// requests of varied sizes, latencies and outcomes at clock now, so its
// buckets are this version's.
func Taken(now time.Time, n int) drift.Snapshot {
	d := drift.New(drift.Options{Now: func() time.Time { return now }})
	for i := range n {
		ob := drift.Observation{Alias: "a", PromptTokens: 1 + 97*i, OutputTokens: 13 * i,
			Latency: time.Duration(i) * 11 * time.Millisecond, FinishReason: "stop"}
		switch i % 7 {
		case 1:
			ob.FinishReason = "length"
		case 2:
			ob.ErrorKind = "timeout"
		case 3:
			ob.ErrorKind = "rate_limited"
		}
		d.Observe(ob)
	}
	d.Rebaseline("a")
	b, _ := d.Baseline("a")
	return b
}

// same reports how got differs from want: times equal and in UTC, counts
// exactly equal.
func same(got, want drift.Snapshot) error {
	if !got.Start.Equal(want.Start) || !got.End.Equal(want.End) {
		return fmt.Errorf("window %s to %s; want %s to %s", got.Start, got.End, want.Start, want.End)
	}
	if got.Start.Location() != time.UTC || got.End.Location() != time.UTC {
		return fmt.Errorf("times in %s and %s; want UTC", got.Start.Location(), got.End.Location())
	}
	if !reflect.DeepEqual(got.Counts, want.Counts) {
		return fmt.Errorf("counts %v; want %v", got.Counts, want.Counts)
	}
	return nil
}

func mustSave(t *testing.T, s drift.BaselineStore, alias string, b drift.Snapshot) {
	t.Helper()
	if err := s.SaveBaseline(t.Context(), alias, b); err != nil {
		t.Fatalf("SaveBaseline(%q): %v", alias, err)
	}
}

func mustLoad(t *testing.T, s drift.BaselineStore) map[string]drift.Snapshot {
	t.Helper()
	m, err := s.LoadBaselines(t.Context())
	if err != nil {
		t.Fatalf("LoadBaselines: %v", err)
	}
	return m
}

func testEmpty(t *testing.T, s drift.BaselineStore) {
	if m := mustLoad(t, s); m == nil || len(m) != 0 {
		t.Errorf("empty store loads %v; want an empty, non-nil map", m)
	}
}

func testRoundTrip(t *testing.T, s drift.BaselineStore) {
	chat := Taken(t0, 300)
	// Counts are exact up to the largest uint64.
	chat.Counts[drift.PromptTokens.String()][0] = math.MaxUint64
	embed := Taken(t0.Add(time.Hour), 40)
	embed.Start, embed.End = embed.Start.In(zone), embed.End.In(zone)
	odd := Taken(t0.Add(2*time.Hour), 1)
	want := map[string]drift.Snapshot{"chat": chat, "embed-3/large": embed, `o'dd "alias" ✓`: odd}
	for alias, b := range want {
		mustSave(t, s, alias, b)
	}
	got := mustLoad(t, s)
	if len(got) != len(want) {
		t.Errorf("loaded %d baselines; want %d", len(got), len(want))
	}
	for alias, w := range want {
		g, ok := got[alias]
		if !ok {
			t.Errorf("baseline of %q not loaded", alias)
			continue
		}
		if err := same(g, w); err != nil {
			t.Errorf("baseline of %q: %v", alias, err)
		}
		if err := drift.New(drift.Options{}).SetBaseline(alias, g); err != nil {
			t.Errorf("loaded baseline of %q refused by the Detector: %v", alias, err)
		}
	}
}

func testReplace(t *testing.T, s drift.BaselineStore) {
	first, second, other := Taken(t0, 100), Taken(t0.Add(24*time.Hour), 250), Taken(t0, 7)
	mustSave(t, s, "chat", first)
	mustSave(t, s, "embed", other)
	mustSave(t, s, "chat", second)
	got := mustLoad(t, s)
	if len(got) != 2 {
		t.Errorf("loaded %d baselines; want 2", len(got))
	}
	if err := same(got["chat"], second); err != nil {
		t.Errorf("replaced baseline: %v", err)
	}
	if err := same(got["embed"], other); err != nil {
		t.Errorf("another alias's baseline after a replace: %v", err)
	}
}

func testEmptyAlias(t *testing.T, s drift.BaselineStore) {
	if err := s.SaveBaseline(t.Context(), "", Taken(t0, 10)); err == nil {
		t.Error("a baseline without an alias was saved")
	}
	if m := mustLoad(t, s); len(m) != 0 {
		t.Errorf("after a refused save: %v", m)
	}
}

// testConcurrent saves from several goroutines at once: each its own
// alias, and all of them one shared alias, which ends with one of the
// baselines saved.
func testConcurrent(t *testing.T, s drift.BaselineStore) {
	const writers, each = 4, 5
	mine := make([]drift.Snapshot, writers)
	for w := range mine {
		mine[w] = Taken(t0.Add(time.Duration(w)*time.Minute), 10+w)
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*each*2)
	for w := range writers {
		wg.Go(func() {
			for range each {
				errs <- s.SaveBaseline(t.Context(), fmt.Sprintf("alias-%d", w), mine[w])
				errs <- s.SaveBaseline(t.Context(), "shared", mine[w])
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := mustLoad(t, s)
	if len(got) != writers+1 {
		t.Errorf("loaded %d baselines; want %d", len(got), writers+1)
	}
	for w := range writers {
		if err := same(got[fmt.Sprintf("alias-%d", w)], mine[w]); err != nil {
			t.Errorf("alias-%d: %v", w, err)
		}
	}
	for _, b := range mine {
		if same(got["shared"], b) == nil {
			return
		}
	}
	t.Errorf("shared alias holds %+v; want one of the baselines saved", got["shared"])
}
