package vector

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Options shape an Index. The zero value is valid: every zero field takes
// its default.
type Options struct {
	// M is the number of links a node keeps per upper level (2M on the
	// bottom level). Default 16.
	M int
	// EfConstruction is the beam width used to find a new node's
	// neighbours. Default 200: on clustered data it buys far more recall
	// per search than 100 for 1.7× the build time (BENCHMARKS.md).
	EfConstruction int
	// EfSearch is the default beam width of a search (at least k is
	// used). Default 128: recall@10 0.97 at 1M vectors, p99 under 2 ms.
	EfSearch int
	// CompactAt is the share of dead nodes (deleted or replaced) at which
	// NeedsCompact reports true. Default 0.25.
	CompactAt float64
	// Seed seeds the level generator; a fixed seed and a single inserting
	// goroutine give a reproducible graph.
	Seed uint64
}

func (o Options) withDefaults() Options {
	if o.M <= 1 {
		o.M = 16
	}
	o.M = min(o.M, 128)
	if o.EfConstruction <= 0 {
		o.EfConstruction = 200
	}
	if o.EfSearch <= 0 {
		o.EfSearch = 128
	}
	if o.CompactAt <= 0 {
		o.CompactAt = 0.25
	}
	return o
}

// SearchOptions tune one search.
type SearchOptions struct {
	// Ef is the beam width: higher is slower and finds more of the true
	// nearest neighbours. Zero means Options.EfSearch; at least k is used.
	Ef int
}

// Index is the embedded approximate nearest-neighbour index: HNSW over
// int8-quantized unit vectors. It implements Store.
//
// Index is safe for concurrent use: any number of searches run alongside
// inserts and deletes, and inserts run in parallel with each other.
// Compact and WriteTo hold off writers (not searches) while they run.
// Lock order: Index.writes, then graph.mu, then one graph.locks stripe.
type Index struct {
	dim  int
	opts Options

	writes sync.RWMutex // shared by Add/Upsert/Delete; exclusive for Compact, WriteTo
	g      atomic.Pointer[graph]
}

var _ Store = (*Index)(nil)

// New returns an empty index of dim-dimensional vectors.
func New(dim int, opts Options) *Index {
	if dim <= 0 || dim > maxDim {
		panic(fmt.Sprintf("vector: dimension %d out of range", dim))
	}
	opts = opts.withDefaults()
	ix := &Index{dim: dim, opts: opts}
	ix.g.Store(newGraph(dim, opts))
	return ix
}

// maxDim bounds the dimension: embedding models stay well below it, and
// it bounds what a damaged file header can make Read allocate (one chunk
// of codes, 1024 × maxDim bytes) before the damage is found.
const maxDim = 1 << 14

// Dim is the dimension of the index's vectors.
func (ix *Index) Dim() int { return ix.dim }

// Add stores vec under key, replacing a vector already stored under key.
func (ix *Index) Add(key uint64, vec []float32) error {
	v, err := normalize(vec, ix.dim)
	if err != nil {
		return err
	}
	ix.writes.RLock()
	defer ix.writes.RUnlock()
	return ix.g.Load().insert(key, v)
}

// Upsert stores items, in parallel when there are many. Vectors are
// checked first, so a bad one stores nothing; ctx is checked between
// items. When a key appears more than once, its last item wins.
func (ix *Index) Upsert(ctx context.Context, items []Item) error {
	last := make(map[uint64]int, len(items))
	for i, it := range items {
		if err := checkVector(it.Vector, ix.dim); err != nil {
			return fmt.Errorf("upsert item %d (key %d): %w", i, it.Key, err)
		}
		last[it.Key] = i
	}
	ix.writes.RLock()
	defer ix.writes.RUnlock()
	g := ix.g.Load()
	workers := 1
	if len(items) >= 512 {
		workers = runtime.GOMAXPROCS(0)
	}
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(items) {
					return
				}
				if last[items[i].Key] != i {
					continue
				}
				if err := ctx.Err(); err != nil {
					errs[w] = err
					return
				}
				v, _ := normalize(items[i].Vector, ix.dim)
				if err := g.insert(items[i].Key, v); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("upsert: %w", err)
		}
	}
	return nil
}

func checkVector(v []float32, dim int) error {
	_, err := normalize(v, dim)
	return err
}

// Remove tombstones key: it is no longer returned, but its node stays in
// the graph as a waypoint until Compact. Absent keys are ignored.
func (ix *Index) Remove(key uint64) {
	ix.writes.RLock()
	defer ix.writes.RUnlock()
	ix.g.Load().remove(key)
}

// Delete removes keys (Store).
func (ix *Index) Delete(ctx context.Context, keys []uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ix.writes.RLock()
	defer ix.writes.RUnlock()
	g := ix.g.Load()
	for _, k := range keys {
		g.remove(k)
	}
	return nil
}

func (g *graph) remove(key uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	id, ok := g.keys[key]
	if !ok {
		return
	}
	delete(g.keys, key)
	c, off := g.chunk(id)
	c.dead[off].Store(true)
	g.deleted++
}

// Len is the number of keys stored.
func (ix *Index) Len() int {
	g := ix.g.Load()
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.keys)
}

// Contains reports whether key is stored.
func (ix *Index) Contains(key uint64) bool {
	g := ix.g.Load()
	g.mu.RLock()
	defer g.mu.RUnlock()
	_, ok := g.keys[key]
	return ok
}

// Watermark is the highest key ever added to the index (0 if none),
// including keys since deleted. An owner that appends rows with
// increasing keys replays only rows above it after Load. Deletions and
// replacements of keys at or below it are not tracked: the owner applies
// those itself (or saves after them).
func (ix *Index) Watermark() uint64 {
	g := ix.g.Load()
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.watermark
}

// Stats describe an index's occupancy.
type Stats struct {
	Live  int // keys stored
	Dead  int // nodes of deleted or replaced vectors still in the graph
	Bytes int // approximate heap held by nodes and links
}

// Stats reports occupancy.
func (ix *Index) Stats() Stats {
	g := ix.g.Load()
	g.mu.RLock()
	defer g.mu.RUnlock()
	chunks := (int(g.n) + chunkSize - 1) / chunkSize
	per := 8 + 4 + 1 + 4 + g.dim + 4*(g.m0+1) + 24
	return Stats{Live: len(g.keys), Dead: g.deleted, Bytes: chunks * chunkSize * per}
}

// NeedsCompact reports whether dead nodes exceed Options.CompactAt of all
// nodes. The owner then calls Compact from its maintenance goroutine.
func (ix *Index) NeedsCompact() bool {
	s := ix.Stats()
	return s.Dead > 0 && float64(s.Dead) >= ix.opts.CompactAt*float64(s.Live+s.Dead)
}

// Compact rebuilds the graph from the live vectors, dropping tombstones
// and reclaiming their ids. Searches continue on the old graph meanwhile;
// writers wait. Its cost is that of inserting every live vector again
// (minutes at a million vectors, on all cores).
func (ix *Index) Compact(ctx context.Context) error {
	ix.writes.Lock()
	defer ix.writes.Unlock()
	old := ix.g.Load()
	ng := newGraph(ix.dim, ix.opts)
	old.mu.RLock()
	n := old.n
	wm := old.watermark
	old.mu.RUnlock()
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			v := make([]float32, ix.dim)
			for {
				id := uint32(next.Add(1) - 1)
				if id >= n || failed.Load() != nil {
					return
				}
				if id%1024 == 0 {
					if err := ctx.Err(); err != nil {
						failed.Store(&err)
						return
					}
				}
				if old.dead(id) {
					continue
				}
				code, scale := old.code(id)
				dequantize(code, scale, v)
				if err := ng.insert(old.key(id), v); err != nil {
					failed.Store(&err)
					return
				}
			}
		})
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		return fmt.Errorf("compact: %w", *p)
	}
	ng.watermark = wm
	ix.g.Store(ng)
	return nil
}
