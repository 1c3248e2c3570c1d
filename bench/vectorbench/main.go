// Command vectorbench measures the embedded vector index (package vector):
// build time, recall@k against exact float search, search latency and the
// process's memory, on synthetic clustered vectors (default: 1,000,000 ×
// 384) or on Fashion-MNIST (-fmnist DIR, 60k base vectors of 784 pixels,
// queries from the 10k test set).
//
//	go run ./bench/vectorbench                      # 1M × 384, ~20 min on 2 cores
//	go run ./bench/vectorbench -n 100000            # quick
//	go run ./bench/vectorbench -fmnist /tmp/fmnist/x/usr/share/datasets/fashion-mnist
//
// Fashion-MNIST is Debian's dataset-fashion-mnist package: `apt-get
// download dataset-fashion-mnist && dpkg -x dataset-fashion-mnist_*.deb x`.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-ai/bulwark/vector"
	"github.com/bulwark-ai/bulwark/vector/vectortest"
)

func main() {
	var (
		n        = flag.Int("n", 1_000_000, "synthetic base vectors")
		dim      = flag.Int("dim", 384, "synthetic dimension")
		clusters = flag.Int("clusters", 512, "synthetic mixture components")
		rank     = flag.Int("rank", 12, "directions each component varies along")
		nq       = flag.Int("queries", 200, "queries")
		k        = flag.Int("k", 10, "neighbours per query")
		efs      = flag.String("ef", "32,64,128,256", "search beam widths to measure")
		m        = flag.Int("m", 16, "HNSW M")
		efc      = flag.Int("efc", 200, "HNSW efConstruction")
		workers  = flag.Int("workers", 2, "inserting goroutines")
		fmnist   = flag.String("fmnist", "", "directory with Fashion-MNIST *-idx3-ubyte.gz; measure it instead of synthetic data")
		save     = flag.String("save", "", "also Save the index to this path and Load it back, timing both")
	)
	flag.Parse()
	var efList []int
	for _, s := range strings.Split(*efs, ",") {
		e, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			log.Fatalf("bad -ef: %v", err)
		}
		efList = append(efList, e)
	}
	var src source
	if *fmnist != "" {
		fm, err := loadFashionMNIST(*fmnist, *nq)
		if err != nil {
			log.Fatal(err)
		}
		src = fm
	} else {
		src = &synthetic{mix: vectortest.NewMixture(*dim, *clusters, *rank, 42), n: *n, nq: *nq, clusters: *clusters, rk: *rank}
	}
	fmt.Printf("data: %s\n", src.describe())
	fmt.Printf("params: M=%d efConstruction=%d workers=%d GOMAXPROCS=%d k=%d\n",
		*m, *efc, *workers, runtime.GOMAXPROCS(0), *k)

	ix := vector.New(src.dim(), vector.Options{M: *m, EfConstruction: *efc, Seed: 1})
	start := time.Now()
	build(ix, src, *workers)
	buildTime := time.Since(start)
	fmt.Printf("build: %d vectors in %s (%.0f inserts/s)\n", ix.Len(), buildTime.Round(time.Millisecond),
		float64(ix.Len())/buildTime.Seconds())
	report("after build")

	queries := src.queries()
	start = time.Now()
	truth := groundTruth(src, queries, *k)
	fmt.Printf("ground truth (exact float cosine, %d queries): %s\n", len(queries), time.Since(start).Round(time.Millisecond))

	exact := make([][]vector.Hit, len(queries))
	var lat []time.Duration
	for i, q := range queries {
		t := time.Now()
		exact[i], _ = ix.Exact(q, *k, nil)
		lat = append(lat, time.Since(t))
	}
	p50, p99 := percentiles(lat)
	fmt.Printf("exact scan of int8 codes: recall@%d=%.4f p50=%s p99=%s (quantization ceiling)\n",
		*k, recall(exact, truth), p50, p99)

	for _, ef := range efList {
		res := make([][]vector.Hit, len(queries))
		lat = lat[:0]
		for i, q := range queries {
			t := time.Now()
			res[i], _ = ix.SearchWith(q, *k, vector.Filter{}, vector.SearchOptions{Ef: ef})
			lat = append(lat, time.Since(t))
		}
		p50, p99 := percentiles(lat)
		fmt.Printf("hnsw ef=%-4d recall@%d=%.4f p50=%-10s p99=%-10s\n", ef, *k, recall(res, truth), p50, p99)
	}
	filtered(ix, queries, *k, efList)
	report("after searches")
	if *save != "" {
		saveLoad(ix, *save, queries, *k)
	}
	report("end")
}

// filtered measures searches whose Filter.Match admits 10% and 1% of the
// keys, recall against the exact filtered scan of the same codes.
func filtered(ix *vector.Index, queries [][]float32, k int, efList []int) {
	ef := efList[len(efList)/2]
	for _, mod := range []uint64{10, 100} {
		match := func(key uint64) bool { return key%mod == 0 }
		var lat []time.Duration
		var got, want [][]vector.Hit
		for _, q := range queries {
			t := time.Now()
			h, _ := ix.SearchWith(q, k, vector.Filter{Match: match}, vector.SearchOptions{Ef: ef})
			lat = append(lat, time.Since(t))
			e, _ := ix.Exact(q, k, match)
			got, want = append(got, h), append(want, e)
		}
		p50, p99 := percentiles(lat)
		fmt.Printf("filter 1/%-3d ef=%-4d recall@%d=%.4f p50=%-10s p99=%-10s (vs exact filtered scan)\n",
			mod, ef, k, recall(got, keysOf(want)), p50, p99)
	}
}

// saveLoad saves ix, drops it, loads the file and checks that the loaded
// index answers the queries exactly as the saved one did; so that the peak
// memory is one index, not two, ix must not be used by the caller after.
func saveLoad(ix *vector.Index, path string, queries [][]float32, k int) {
	want := make([][]vector.Hit, len(queries))
	for i, q := range queries {
		want[i], _ = ix.SearchWith(q, k, vector.Filter{}, vector.SearchOptions{})
	}
	t := time.Now()
	if err := ix.Save(path); err != nil {
		log.Fatal(err)
	}
	st, _ := os.Stat(path)
	fmt.Printf("save: %s, %d MiB\n", time.Since(t).Round(time.Millisecond), st.Size()>>20)
	ix = nil
	runtime.GC()
	t = time.Now()
	loaded, err := vector.Load(path, vector.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("load: %s\n", time.Since(t).Round(time.Millisecond))
	for i, q := range queries {
		got, _ := loaded.SearchWith(q, k, vector.Filter{}, vector.SearchOptions{})
		if !slices.Equal(got, want[i]) {
			log.Fatal("loaded index answers differently")
		}
	}
	fmt.Println("load: answers identical to the saved index")
	report("after load")
}

func build(ix *vector.Index, src source, workers int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	n := src.len()
	start := time.Now()
	for range workers {
		wg.Go(func() {
			buf := make([]float32, src.dim())
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := ix.Add(uint64(i)+1, src.base(i, buf)); err != nil {
					log.Fatal(err)
				}
				if (i+1)%100_000 == 0 {
					fmt.Fprintf(os.Stderr, "  %d inserted, %s\n", i+1, time.Since(start).Round(time.Second))
				}
			}
		})
	}
	wg.Wait()
}

// groundTruth is the exact top k by float cosine for each query, keys as
// the index has them (base index + 1), streaming the base set.
func groundTruth(src source, queries [][]float32, k int) [][]uint64 {
	qs := make([][]float32, len(queries))
	for i, q := range queries {
		qs[i] = unit(q)
	}
	workers := runtime.GOMAXPROCS(0)
	n := src.len()
	parts := make([][][]scored, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			tops := make([][]scored, len(qs))
			buf := make([]float32, src.dim())
			for i := w; i < n; i += workers {
				v := unit(src.base(i, buf))
				for j, q := range qs {
					tops[j] = keepTop(tops[j], scored{uint64(i) + 1, dot(q, v)}, k)
				}
			}
			parts[w] = tops
		})
	}
	wg.Wait()
	out := make([][]uint64, len(qs))
	for j := range qs {
		var all []scored
		for _, p := range parts {
			all = append(all, p[j]...)
		}
		slices.SortFunc(all, func(a, b scored) int {
			if a.s > b.s {
				return -1
			} else if a.s < b.s {
				return 1
			}
			return 0
		})
		for _, s := range all[:min(k, len(all))] {
			out[j] = append(out[j], s.key)
		}
	}
	return out
}

type scored struct {
	key uint64
	s   float32
}

// keepTop keeps the k best in top (unordered, small k).
func keepTop(top []scored, c scored, k int) []scored {
	if len(top) < k {
		return append(top, c)
	}
	worst := 0
	for i := range top {
		if top[i].s < top[worst].s {
			worst = i
		}
	}
	if c.s > top[worst].s {
		top[worst] = c
	}
	return top
}

func recall(got [][]vector.Hit, truth [][]uint64) float64 {
	hit, total := 0, 0
	for i, t := range truth {
		set := make(map[uint64]bool, len(t))
		for _, key := range t {
			set[key] = true
		}
		for _, h := range got[i] {
			if set[h.Key] {
				hit++
			}
		}
		total += len(t)
	}
	if total == 0 {
		return 1
	}
	return float64(hit) / float64(total)
}

func keysOf(hs [][]vector.Hit) [][]uint64 {
	out := make([][]uint64, len(hs))
	for i, h := range hs {
		for _, x := range h {
			out[i] = append(out[i], x.Key)
		}
	}
	return out
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	at := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return at(0.50).Round(time.Microsecond), at(0.99).Round(time.Microsecond)
}

// report prints the process's peak and current resident memory after a
// forced GC, from /proc/self/status.
func report(when string) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Printf("memory %s: heap in use %d MiB\n", when, ms.HeapInuse>>20)
		return
	}
	var hwm, rss string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "VmHWM:" {
			hwm = f[1]
		}
		if len(f) >= 2 && f[0] == "VmRSS:" {
			rss = f[1]
		}
	}
	kib := func(s string) int { v, _ := strconv.Atoi(s); return v >> 10 }
	fmt.Printf("memory %s: VmRSS=%d MiB VmHWM=%d MiB heap-in-use=%d MiB\n", when, kib(rss), kib(hwm), ms.HeapInuse>>20)
}
