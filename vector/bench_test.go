package vector_test

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/vector"
	"github.com/bulwark-ai/bulwark/vector/vectortest"
)

// The search benchmarks share one index of 100,000 clustered 384-dim
// vectors (vectortest.Mixture, the data bench/vectorbench uses at 1M),
// built once, with the exact float top 10 of 200 queries.
const (
	benchN   = 100_000
	benchDim = 384
	benchQ   = 200
	benchK   = 10
)

var bench struct {
	once    sync.Once
	ix      *vector.Index
	queries [][]float32
	truth   [][]uint64 // exact float cosine top benchK
}

func benchIndex(b *testing.B) {
	bench.once.Do(func() {
		mix := vectortest.NewMixture(benchDim, 512, 12, 42)
		ix := vector.New(benchDim, vector.Options{Seed: 1})
		base := make([][]float32, benchN)
		items := make([]vector.Item, benchN)
		for i := range base {
			base[i] = unit(mix.Vector(uint64(i), make([]float32, benchDim)))
			items[i] = vector.Item{Key: uint64(i + 1), Vector: base[i]}
		}
		start := time.Now()
		if err := ix.Upsert(b.Context(), items); err != nil {
			b.Fatal(err)
		}
		b.Logf("built %d × %d in %s", benchN, benchDim, time.Since(start).Round(time.Millisecond))
		bench.ix = ix
		for j := range benchQ {
			q := unit(mix.Vector(1<<40+uint64(j), make([]float32, benchDim)))
			bench.queries = append(bench.queries, q)
			type hit struct {
				key uint64
				s   float32
			}
			all := make([]hit, benchN)
			for i, v := range base {
				all[i] = hit{uint64(i + 1), dot(q, v)}
			}
			slices.SortFunc(all, func(a, b hit) int {
				if a.s > b.s {
					return -1
				} else if a.s < b.s {
					return 1
				}
				return 0
			})
			var keys []uint64
			for _, h := range all[:benchK] {
				keys = append(keys, h.key)
			}
			bench.truth = append(bench.truth, keys)
		}
	})
	if bench.ix == nil {
		b.Fatal("benchmark index was not built")
	}
}

func unit(v []float32) []float32 {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	inv := float32(1 / math.Sqrt(ss))
	for i := range v {
		v[i] *= inv
	}
	return v
}

func dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// BenchmarkSearch reports ns per query and, as metrics, recall@10 against
// exact float search and the 99th percentile latency over the query set.
//
//	go test ./vector -run '^$' -bench Search -benchtime 2000x
func BenchmarkSearch(b *testing.B) {
	benchIndex(b)
	for _, ef := range []int{32, 64, 128, 256} {
		b.Run(fmt.Sprintf("ef=%d", ef), func(b *testing.B) {
			o := vector.SearchOptions{Ef: ef}
			found := 0
			var lat []time.Duration
			for j, q := range bench.queries {
				t := time.Now()
				hits, _ := bench.ix.SearchWith(q, benchK, vector.Filter{}, o)
				lat = append(lat, time.Since(t))
				for _, h := range hits {
					if slices.Contains(bench.truth[j], h.Key) {
						found++
					}
				}
			}
			slices.Sort(lat)
			i := 0
			for b.Loop() {
				_, _ = bench.ix.SearchWith(bench.queries[i%benchQ], benchK, vector.Filter{}, o)
				i++
			}
			b.ReportMetric(float64(found)/float64(benchQ*benchK), "recall@10")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkSearchFiltered searches with a Filter.Match admitting 1 key in
// mod, recall against the exact scan with the same filter.
func BenchmarkSearchFiltered(b *testing.B) {
	benchIndex(b)
	for _, mod := range []uint64{10, 100, 1000} {
		b.Run(fmt.Sprintf("1in%d", mod), func(b *testing.B) {
			f := vector.Filter{Match: func(k uint64) bool { return k%mod == 0 }}
			found := 0
			for _, q := range bench.queries {
				got, _ := bench.ix.SearchWith(q, benchK, f, vector.SearchOptions{})
				want, _ := bench.ix.Exact(q, benchK, f.Match)
				for _, h := range got {
					if slices.Contains(want, h) {
						found++
					}
				}
			}
			i := 0
			for b.Loop() {
				_, _ = bench.ix.SearchWith(bench.queries[i%benchQ], benchK, f, vector.SearchOptions{})
				i++
			}
			b.ReportMetric(float64(found)/float64(benchQ*benchK), "recall@10")
		})
	}
}

// BenchmarkInsert is the cost of one Add into an index growing from empty.
func BenchmarkInsert(b *testing.B) {
	mix := vectortest.NewMixture(benchDim, 512, 12, 42)
	ix := vector.New(benchDim, vector.Options{Seed: 1})
	v := make([]float32, benchDim)
	i := uint64(0)
	for b.Loop() {
		if err := ix.Add(i+1, mix.Vector(i, v)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
