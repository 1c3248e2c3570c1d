package vector_test

import (
	"context"
	"slices"
	"testing"

	"github.com/bulwark-ai/bulwark/vector"
	"github.com/bulwark-ai/bulwark/vector/vectortest"
)

var _ vector.Store = (*vector.Index)(nil)

func TestConformance(t *testing.T) {
	vectortest.Run(t, func(t *testing.T, dim int) vector.Store {
		return vector.New(dim, vector.Options{Seed: 1})
	})
}

// The conformance suite again with a small graph (M=6) and beam, so that
// searches go through the graph and its fallbacks rather than exact scans.
func TestConformanceSmallGraph(t *testing.T) {
	vectortest.Run(t, func(t *testing.T, dim int) vector.Store {
		return vector.New(dim, vector.Options{M: 6, EfConstruction: 48, EfSearch: 16, Seed: 1})
	})
}

func items(n int, dim int, seed uint64) []vector.Item {
	m := vectortest.NewMixture(dim, 16, 6, seed)
	out := make([]vector.Item, n)
	for i := range out {
		out[i] = vector.Item{Key: uint64(i + 1), Vector: m.Vector(uint64(i), make([]float32, dim))}
	}
	return out
}

func build(t testing.TB, n, dim int) (*vector.Index, []vector.Item) {
	ix := vector.New(dim, vector.Options{Seed: 7})
	its := items(n, dim, 3)
	if err := ix.Upsert(context.Background(), its); err != nil {
		t.Fatal(err)
	}
	return ix, its
}

// recall is the share of the exact top k (by Exact) the index returns.
func recall(t testing.TB, ix *vector.Index, qs []vector.Item, k int, o vector.SearchOptions) float64 {
	found := 0
	for _, q := range qs {
		got, err := ix.SearchWith(q.Vector, k, vector.Filter{}, o)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := ix.Exact(q.Vector, k, nil)
		set := map[uint64]bool{}
		for _, h := range want {
			set[h.Key] = true
		}
		for _, h := range got {
			if set[h.Key] {
				found++
			}
		}
	}
	return float64(found) / float64(k*len(qs))
}

func TestRecall(t *testing.T) {
	ix, its := build(t, 5000, 64)
	if r := recall(t, ix, its[:100], 10, vector.SearchOptions{Ef: 64}); r < 0.95 {
		t.Fatalf("recall@10 at ef=64 = %.3f, want ≥ 0.95", r)
	}
}

func TestLenWatermarkStats(t *testing.T) {
	ix := vector.New(8, vector.Options{})
	if ix.Len() != 0 || ix.Watermark() != 0 {
		t.Fatal("new index not empty")
	}
	v := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	for _, k := range []uint64{5, 90, 12} {
		if err := ix.Add(k, v); err != nil {
			t.Fatal(err)
		}
	}
	ix.Remove(90)
	ix.Remove(12345)
	if got := ix.Len(); got != 2 {
		t.Fatalf("Len = %d, want 2", got)
	}
	if got := ix.Watermark(); got != 90 {
		t.Fatalf("Watermark = %d, want 90 (deleted keys count)", got)
	}
	if got := ix.Keys(); !slices.Equal(got, []uint64{5, 12}) {
		t.Fatalf("Keys = %v, want [5 12]", got)
	}
	if ix.Contains(90) || !ix.Contains(5) {
		t.Fatal("Contains wrong after Remove")
	}
	if s := ix.Stats(); s.Live != 2 || s.Dead != 1 {
		t.Fatalf("Stats = %+v", s)
	}
}

func TestCompact(t *testing.T) {
	ctx := context.Background()
	ix, its := build(t, 3000, 32)
	var gone []uint64
	for _, it := range its {
		if it.Key%2 == 0 {
			gone = append(gone, it.Key)
		}
	}
	if ix.NeedsCompact() {
		t.Fatal("NeedsCompact before any delete")
	}
	if err := ix.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if !ix.NeedsCompact() {
		t.Fatal("NeedsCompact false with half the nodes dead")
	}
	wm := ix.Watermark()
	if err := ix.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if s := ix.Stats(); s.Live != 1500 || s.Dead != 0 {
		t.Fatalf("after Compact, Stats = %+v", s)
	}
	if ix.Watermark() != wm {
		t.Fatalf("Compact changed the watermark")
	}
	for _, it := range its[:50] {
		hits, err := ix.Search(ctx, it.Vector, 10, vector.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			if h.Key%2 == 0 {
				t.Fatalf("deleted key %d returned after Compact", h.Key)
			}
		}
		if it.Key%2 == 1 && (len(hits) == 0 || hits[0].Key != it.Key) {
			t.Fatalf("key %d not found by its own vector after Compact: %v", it.Key, hits)
		}
	}
	if r := recall(t, ix, its[:100], 10, vector.SearchOptions{}); r < 0.95 {
		t.Fatalf("recall after Compact = %.3f", r)
	}
}

func TestFilterFallsBackToExact(t *testing.T) {
	ix, its := build(t, 4000, 32)
	// Keys that are multiples of 997: 4 of 4000, far apart in the graph.
	match := func(k uint64) bool { return k%997 == 0 }
	got, err := ix.SearchWith(its[0].Vector, 10, vector.Filter{Match: match}, vector.SearchOptions{Ef: 16})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ix.Exact(its[0].Vector, 10, match)
	if len(got) != 4 || len(want) != 4 {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}
