package vectortest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/bulwark-ai/bulwark/vector"
)

// Dim is the dimension of the stores the suite asks for.
const Dim = 32

// Run runs the conformance suite against stores made by newStore, which
// is called once per subtest and must return an empty store of dim
// dimensions that lives until t ends.
//
// What the suite holds a backend to: scores are cosine similarities,
// hits come best first with no key twice, recall@10 against exact search
// is at least 0.9 on a few hundred clustered vectors, Upsert replaces,
// Delete and both Filter fields are honoured exactly (never approximately),
// dimension and zero-vector errors wrap vector.ErrDimension and
// vector.ErrZeroVector and store nothing, k larger than the store returns
// everything, a cancelled context is an error, and concurrent use is safe.
func Run(t *testing.T, newStore func(t *testing.T, dim int) vector.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s vector.Store)
	}{
		{"Empty", testEmpty},
		{"FindsItself", testFindsItself},
		{"RecallAndOrder", testRecallAndOrder},
		{"KLargerThanStore", testKLarger},
		{"UpsertReplaces", testUpsertReplaces},
		{"UpsertDuplicateKeys", testUpsertDuplicates},
		{"Delete", testDelete},
		{"FilterMatch", testFilterMatch},
		{"FilterKeys", testFilterKeys},
		{"SelectiveFilter", testSelectiveFilter},
		{"BadVectors", testBadVectors},
		{"Cancelled", testCancelled},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t, Dim))
		})
	}
}

var ctx = context.Background()

// data is n clustered vectors with keys 1..n.
func data(n int, seed uint64) []vector.Item {
	m := NewMixture(Dim, 8, 4, seed)
	items := make([]vector.Item, n)
	for i := range items {
		items[i] = vector.Item{Key: uint64(i + 1), Vector: m.Vector(uint64(i), make([]float32, Dim))}
	}
	return items
}

func upsert(t *testing.T, s vector.Store, items []vector.Item) {
	t.Helper()
	if err := s.Upsert(ctx, items); err != nil {
		t.Fatalf("Upsert: %v", err)
	}
}

func search(t *testing.T, s vector.Store, q []float32, k int, f vector.Filter) []vector.Hit {
	t.Helper()
	hits, err := s.Search(ctx, q, k, f)
	if err != nil {
		t.Fatalf("Search: %v", err)
	}
	checkHits(t, hits, k)
	return hits
}

// checkHits checks the shape every result must have.
func checkHits(t *testing.T, hits []vector.Hit, k int) {
	t.Helper()
	if err := hitsErr(hits, k); err != nil {
		t.Fatal(err)
	}
}

func hitsErr(hits []vector.Hit, k int) error {
	if len(hits) > k {
		return fmt.Errorf("%d hits for k=%d", len(hits), k)
	}
	seen := map[uint64]bool{}
	for i, h := range hits {
		if seen[h.Key] {
			return fmt.Errorf("key %d returned twice: %v", h.Key, hits)
		}
		seen[h.Key] = true
		if h.Score > 1.01 || h.Score < -1.01 || math.IsNaN(float64(h.Score)) {
			return fmt.Errorf("score %v of key %d is not a cosine", h.Score, h.Key)
		}
		if i > 0 && h.Score > hits[i-1].Score {
			return fmt.Errorf("hits not ordered by descending score: %v", hits)
		}
	}
	return nil
}

// exact is the true top k by cosine among items that keep admits.
func exact(items []vector.Item, q []float32, k int, keep func(uint64) bool) []vector.Hit {
	var hs []vector.Hit
	for _, it := range items {
		if keep == nil || keep(it.Key) {
			hs = append(hs, vector.Hit{Key: it.Key, Score: cosine(q, it.Vector)})
		}
	}
	slices.SortFunc(hs, func(a, b vector.Hit) int {
		if a.Score > b.Score {
			return -1
		} else if a.Score < b.Score {
			return 1
		}
		return 0
	})
	return hs[:min(k, len(hs))]
}

func cosine(a, b []float32) float32 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return float32(ab / math.Sqrt(aa*bb))
}

func keys(hs []vector.Hit) []uint64 {
	out := make([]uint64, len(hs))
	for i, h := range hs {
		out[i] = h.Key
	}
	return out
}

func testEmpty(t *testing.T, s vector.Store) {
	q := data(1, 1)[0].Vector
	if hits := search(t, s, q, 10, vector.Filter{}); len(hits) != 0 {
		t.Fatalf("empty store returned %v", hits)
	}
	if err := s.Delete(ctx, []uint64{1, 2}); err != nil {
		t.Fatalf("Delete of absent keys: %v", err)
	}
	upsert(t, s, data(3, 1))
	if hits := search(t, s, q, 0, vector.Filter{}); len(hits) != 0 {
		t.Fatalf("k=0 returned %v", hits)
	}
}

func testFindsItself(t *testing.T, s vector.Store) {
	items := data(300, 2)
	upsert(t, s, items)
	for _, it := range items[:50] {
		hits := search(t, s, it.Vector, 1, vector.Filter{})
		if len(hits) != 1 || hits[0].Key != it.Key {
			t.Fatalf("search for key %d's own vector gave %v", it.Key, hits)
		}
		if math.Abs(float64(hits[0].Score)-1) > 0.01 {
			t.Fatalf("self score %v, want ≈1", hits[0].Score)
		}
	}
}

func testRecallAndOrder(t *testing.T, s vector.Store) {
	items := data(600, 3)
	upsert(t, s, items)
	queries := data(1050, 3)[1000:]
	found, total := 0, 0
	for _, q := range queries {
		hits := search(t, s, q.Vector, 10, vector.Filter{})
		want := exact(items, q.Vector, 10, nil)
		if len(hits) != 10 {
			t.Fatalf("%d hits, want 10", len(hits))
		}
		byKey := map[uint64]vector.Hit{}
		for _, it := range items {
			byKey[it.Key] = vector.Hit{Key: it.Key, Score: cosine(q.Vector, it.Vector)}
		}
		for _, h := range hits {
			if d := math.Abs(float64(h.Score - byKey[h.Key].Score)); d > 0.02 {
				t.Fatalf("key %d: score %v, true cosine %v", h.Key, h.Score, byKey[h.Key].Score)
			}
		}
		found += len(intersect(keys(hits), keys(want)))
		total += len(want)
	}
	if r := float64(found) / float64(total); r < 0.9 {
		t.Fatalf("recall@10 = %.3f, want ≥ 0.9", r)
	}
}

func intersect(a, b []uint64) []uint64 {
	var out []uint64
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func testKLarger(t *testing.T, s vector.Store) {
	items := data(5, 4)
	upsert(t, s, items)
	hits := search(t, s, items[0].Vector, 50, vector.Filter{})
	got := keys(hits)
	slices.Sort(got)
	if !slices.Equal(got, []uint64{1, 2, 3, 4, 5}) {
		t.Fatalf("k=50 over 5 vectors gave keys %v", got)
	}
}

func testUpsertReplaces(t *testing.T, s vector.Store) {
	items := data(200, 5)
	upsert(t, s, items)
	// Key 1 takes key 2's direction; key 2 is deleted.
	upsert(t, s, []vector.Item{{Key: 1, Vector: items[1].Vector}})
	if err := s.Delete(ctx, []uint64{2}); err != nil {
		t.Fatal(err)
	}
	hits := search(t, s, items[1].Vector, 5, vector.Filter{})
	if len(hits) == 0 || hits[0].Key != 1 || hits[0].Score < 0.99 {
		t.Fatalf("after replacing key 1, search for its new vector gave %v", hits)
	}
	hits = search(t, s, items[0].Vector, 200, vector.Filter{})
	for _, h := range hits {
		if h.Key == 1 && h.Score > 0.99 && cosine(items[0].Vector, items[1].Vector) < 0.98 {
			t.Fatalf("key 1 still scored by its old vector: %v", h)
		}
	}
}

func testUpsertDuplicates(t *testing.T, s vector.Store) {
	items := data(1000, 13)
	// Every key twice in one call; the second vector of each is another
	// key's, so the winner is visible.
	batch := slices.Clone(items)
	for i := range items {
		batch = append(batch, vector.Item{Key: items[i].Key, Vector: items[(i+1)%len(items)].Vector})
	}
	upsert(t, s, batch)
	for _, i := range []int{0, 10, 500, 998} {
		only := vector.Filter{Keys: []uint64{items[i].Key}}
		hits := search(t, s, items[(i+1)%len(items)].Vector, 1, only)
		if len(hits) != 1 || hits[0].Score < 0.99 {
			t.Fatalf("key %d should hold the later vector; scoring it gave %v", items[i].Key, hits)
		}
		if hits := search(t, s, items[i].Vector, 1, only); len(hits) != 1 || hits[0].Score > 0.99 {
			t.Fatalf("key %d still holds the earlier vector: %v", items[i].Key, hits)
		}
	}
	if hits := search(t, s, items[0].Vector, 2000, vector.Filter{}); len(hits) != 1000 {
		t.Fatalf("%d hits over 1000 keys", len(hits))
	}
}

func testDelete(t *testing.T, s vector.Store) {
	items := data(300, 6)
	upsert(t, s, items)
	var gone []uint64
	for k := uint64(1); k <= 300; k += 3 {
		gone = append(gone, k)
	}
	if err := s.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	live := func(k uint64) bool { return k%3 != 1 }
	for _, q := range items[:30] {
		hits := search(t, s, q.Vector, 10, vector.Filter{})
		if len(hits) != 10 {
			t.Fatalf("%d hits, want 10", len(hits))
		}
		for _, h := range hits {
			if !live(h.Key) {
				t.Fatalf("deleted key %d returned", h.Key)
			}
		}
	}
	hits := search(t, s, items[0].Vector, 1000, vector.Filter{})
	if len(hits) != 200 {
		t.Fatalf("k=1000 after deleting 100 of 300 gave %d hits", len(hits))
	}
}

func testFilterMatch(t *testing.T, s vector.Store) {
	items := data(400, 7)
	upsert(t, s, items)
	even := func(k uint64) bool { return k%2 == 0 }
	found, total := 0, 0
	for _, q := range items[:40] {
		hits := search(t, s, q.Vector, 10, vector.Filter{Match: even})
		for _, h := range hits {
			if !even(h.Key) {
				t.Fatalf("filtered-out key %d returned", h.Key)
			}
		}
		found += len(intersect(keys(hits), keys(exact(items, q.Vector, 10, even))))
		total += 10
	}
	if r := float64(found) / float64(total); r < 0.9 {
		t.Fatalf("filtered recall@10 = %.3f, want ≥ 0.9", r)
	}
}

func testFilterKeys(t *testing.T, s vector.Store) {
	items := data(400, 8)
	upsert(t, s, items)
	allow := []uint64{5, 17, 123, 399, 400, 9999}
	hits := search(t, s, items[0].Vector, 10, vector.Filter{Keys: allow})
	got := keys(hits)
	slices.Sort(got)
	if !slices.Equal(got, []uint64{5, 17, 123, 399, 400}) {
		t.Fatalf("Keys filter gave %v", got)
	}
	want := keys(exact(items, items[0].Vector, 3, func(k uint64) bool { return slices.Contains(allow, k) }))
	if got := keys(search(t, s, items[0].Vector, 3, vector.Filter{Keys: allow})); !slices.Equal(got, want) {
		t.Fatalf("Keys filter top 3 = %v, want %v", got, want)
	}
	both := vector.Filter{Keys: allow, Match: func(k uint64) bool { return k%2 == 1 }}
	got = keys(search(t, s, items[0].Vector, 10, both))
	slices.Sort(got)
	if !slices.Equal(got, []uint64{5, 17, 123, 399}) {
		t.Fatalf("Keys and Match gave %v", got)
	}
	if hits := search(t, s, items[0].Vector, 10, vector.Filter{Keys: []uint64{}}); len(hits) != 0 {
		t.Fatalf("empty Keys gave %v", hits)
	}
}

func testSelectiveFilter(t *testing.T, s vector.Store) {
	items := data(2000, 9)
	upsert(t, s, items)
	one := func(k uint64) bool { return k == 1234 || k == 77 }
	hits := search(t, s, items[0].Vector, 10, vector.Filter{Match: one})
	got := keys(hits)
	slices.Sort(got)
	if !slices.Equal(got, []uint64{77, 1234}) {
		t.Fatalf("filter admitting 2 of 2000 gave %v", got)
	}
	none := func(uint64) bool { return false }
	if hits := search(t, s, items[0].Vector, 10, vector.Filter{Match: none}); len(hits) != 0 {
		t.Fatalf("filter admitting nothing gave %v", hits)
	}
}

func testBadVectors(t *testing.T, s vector.Store) {
	items := data(10, 10)
	bad := append(slices.Clone(items[:5]), vector.Item{Key: 99, Vector: make([]float32, Dim+1)})
	if err := s.Upsert(ctx, bad); !errors.Is(err, vector.ErrDimension) {
		t.Fatalf("Upsert with a %d-dim vector: %v, want ErrDimension", Dim+1, err)
	}
	zero := []vector.Item{items[0], {Key: 98, Vector: make([]float32, Dim)}}
	if err := s.Upsert(ctx, zero); !errors.Is(err, vector.ErrZeroVector) {
		t.Fatalf("Upsert with a zero vector: %v, want ErrZeroVector", err)
	}
	if hits := search(t, s, items[0].Vector, 10, vector.Filter{}); len(hits) != 0 {
		t.Fatalf("failed Upserts stored %v", hits)
	}
	upsert(t, s, items)
	if _, err := s.Search(ctx, make([]float32, Dim-1), 3, vector.Filter{}); !errors.Is(err, vector.ErrDimension) {
		t.Fatalf("Search with a %d-dim query: %v, want ErrDimension", Dim-1, err)
	}
	if _, err := s.Search(ctx, make([]float32, Dim), 3, vector.Filter{}); !errors.Is(err, vector.ErrZeroVector) {
		t.Fatalf("Search with a zero query: %v, want ErrZeroVector", err)
	}
}

func testCancelled(t *testing.T, s vector.Store) {
	items := data(10, 11)
	upsert(t, s, items)
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Search(c, items[0].Vector, 3, vector.Filter{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Search with a cancelled context: %v", err)
	}
}

func testConcurrent(t *testing.T, s vector.Store) {
	items := data(1200, 12)
	upsert(t, s, items[:200])
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 200 + w; i < len(items); i += 4 {
				if err := s.Upsert(ctx, items[i:i+1]); err != nil {
					t.Error(err)
					return
				}
				if i%10 == 0 {
					if err := s.Delete(ctx, []uint64{uint64(r.IntN(i) + 1)}); err != nil {
						t.Error(err)
						return
					}
				}
				hits, err := s.Search(ctx, items[r.IntN(len(items))].Vector, 5, vector.Filter{})
				if err != nil {
					t.Error(err)
					return
				}
				if err := hitsErr(hits, 5); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if hits := search(t, s, items[1100].Vector, 10, vector.Filter{}); len(hits) != 10 {
		t.Fatalf("after concurrent writes, %d hits for k=10", len(hits))
	}
}
