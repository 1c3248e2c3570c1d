package vector

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
)

// Node storage. Nodes get dense ids (uint32) in insertion order and live in
// fixed-size chunks that are allocated once and never move, so a
// goroutine holding an id reads its code without a lock, and growth never
// copies the whole index (which would double the peak memory of a large
// build). The directory of chunks is copied on growth and published
// atomically; a chunk of 1024 nodes keeps a small index small (about
// 0.6 MB at 384 dimensions).
const (
	chunkBits = 10
	chunkSize = 1 << chunkBits
	chunkMask = chunkSize - 1
	maxNodes  = 1 << 28
	maxLevel  = 16
	stripes   = 4096 // adjacency locks, by id modulo
)

// ErrFull means the index has allocated every node id it can; Compact
// reclaims the ids of deleted and replaced vectors.
var ErrFull = errors.New("vector: index full")

// chunk holds chunkSize nodes. A node's key, level, code and scale are
// written once, under graph.mu, before its id is published; its adjacency
// lists are guarded by graph.locks[id%stripes]; dead is atomic.
type chunk struct {
	keys   []uint64
	scales []float32
	levels []uint8
	dead   []atomic.Bool
	codes  []int8     // chunkSize × dim
	links  []uint32   // chunkSize × (m0+1): count, then neighbour ids
	upper  [][]uint32 // per node, levels 1..level, each (m+1) long
}

// graph is one HNSW graph over int8-quantized unit vectors. Index swaps a
// whole graph when it compacts, so searches that hold the old one finish
// on it undisturbed.
type graph struct {
	dim, m, m0, efc int
	ml              float64

	dir   atomic.Pointer[[]*chunk] // immutable once published
	locks [stripes]sync.Mutex

	mu        sync.RWMutex // guards the fields below
	keys      map[uint64]uint32
	n         uint32 // ids allocated
	entry     uint32
	top       int // level of entry; -1 when empty
	deleted   int // dead nodes (deleted or replaced)
	watermark uint64
	rng       *rand.Rand

	visits visitPool
}

func newGraph(dim int, o Options) *graph {
	g := &graph{
		dim: dim, m: o.M, m0: 2 * o.M, efc: o.EfConstruction,
		ml:   1 / math.Log(float64(o.M)),
		keys: make(map[uint64]uint32),
		top:  -1,
		rng:  rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
	}
	g.dir.Store(&[]*chunk{})
	return g
}

// grow publishes a directory with one more chunk. The caller holds g.mu
// (or owns g, while reading a file).
func (g *graph) grow() *chunk {
	c := g.newChunk()
	d := append(slices.Clip(*g.dir.Load()), c)
	g.dir.Store(&d)
	return c
}

func (g *graph) newChunk() *chunk {
	return &chunk{
		keys:   make([]uint64, chunkSize),
		scales: make([]float32, chunkSize),
		levels: make([]uint8, chunkSize),
		dead:   make([]atomic.Bool, chunkSize),
		codes:  make([]int8, chunkSize*g.dim),
		links:  make([]uint32, chunkSize*(g.m0+1)),
		upper:  make([][]uint32, chunkSize),
	}
}

func (g *graph) chunk(id uint32) (*chunk, int) {
	return (*g.dir.Load())[id>>chunkBits], int(id & chunkMask)
}

func (g *graph) code(id uint32) ([]int8, float32) {
	c, off := g.chunk(id)
	return c.codes[off*g.dim : (off+1)*g.dim], c.scales[off]
}

func (g *graph) key(id uint32) uint64 {
	c, off := g.chunk(id)
	return c.keys[off]
}

func (g *graph) dead(id uint32) bool {
	c, off := g.chunk(id)
	return c.dead[off].Load()
}

// list returns the adjacency list of id at level l, count first. The
// caller holds g.locks[id%stripes].
func (g *graph) list(id uint32, l int) []uint32 {
	c, off := g.chunk(id)
	if l == 0 {
		w := g.m0 + 1
		return c.links[off*w : (off+1)*w]
	}
	w := g.m + 1
	return c.upper[off][(l-1)*w : l*w]
}

// neighbours copies id's neighbours at level l into buf.
func (g *graph) neighbours(id uint32, l int, buf []uint32) []uint32 {
	mu := &g.locks[id%stripes]
	mu.Lock()
	ls := g.list(id, l)
	buf = append(buf[:0], ls[1:1+ls[0]]...)
	mu.Unlock()
	return buf
}

// score is the asymmetric similarity of unit query q to node id.
func (g *graph) score(q []float32, id uint32) float32 {
	code, scale := g.code(id)
	return scale * dotQC(q, code)
}

// sim is the similarity of two stored nodes.
func (g *graph) sim(a, b uint32) float32 {
	ca, sa := g.code(a)
	cb, sb := g.code(b)
	return sa * sb * dotCC(ca, cb)
}

// alloc stores a new node for key with the unit vector v and returns its
// id and level, and the entry point and top level to start inserting
// from (top is -1 for the first node). A node already stored under key is
// marked dead.
func (g *graph) alloc(key uint64, v []float32) (id uint32, level int, entry uint32, top int, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n >= maxNodes {
		return 0, 0, 0, 0, ErrFull
	}
	id = g.n
	var c *chunk
	if id&chunkMask == 0 {
		c = g.grow()
	} else {
		c, _ = g.chunk(id)
	}
	level = min(int(-math.Log(1-g.rng.Float64())*g.ml), maxLevel)
	off := int(id & chunkMask)
	c.keys[off] = key
	c.levels[off] = uint8(level)
	c.scales[off] = quantize(v, c.codes[off*g.dim:(off+1)*g.dim])
	if level > 0 {
		c.upper[off] = make([]uint32, level*(g.m+1))
	}
	if old, ok := g.keys[key]; ok {
		oc, ooff := g.chunk(old)
		oc.dead[ooff].Store(true)
		g.deleted++
	}
	g.keys[key] = id
	g.watermark = max(g.watermark, key)
	g.n++
	entry, top = g.entry, g.top
	if top < 0 {
		g.entry, g.top = id, level
	}
	return id, level, entry, top, nil
}

// insert adds key with unit vector v: Malkov & Yashunin's algorithm 1,
// with the neighbour-selection heuristic (algorithm 4) for new links and
// for lists that overflow. Safe for concurrent use with searches and other
// inserts; Index.writes keeps it apart from Compact and Save.
func (g *graph) insert(key uint64, v []float32) error {
	id, level, ep, top, err := g.alloc(key, v)
	if err != nil || top < 0 {
		return err
	}
	vis := g.visits.get(int(id) + 1)
	defer g.visits.put(vis)
	var buf []uint32
	// The new node looks for its neighbours with its own int8 code: the
	// int8·int8 kernel is twice as fast as float·int8, and the small extra
	// error does not change which nodes are near.
	code, scale := g.code(id)
	score := func(x uint32) float32 {
		c, s := g.code(x)
		return scale * s * dotCC(code, c)
	}
	cur := cand{ep, score(ep)}
	for l := top; l > level; l-- {
		cur = g.greedy(score, cur, l, &buf)
	}
	eps := []cand{cur}
	for l := min(level, top); l >= 0; l-- {
		w, _ := g.searchLayer(score, eps, g.efc, l, nil, 0, vis, &buf)
		sel := g.selectNeighbours(w, g.m, id)
		mu := &g.locks[id%stripes]
		mu.Lock()
		ls := g.list(id, l)
		ls[0] = uint32(len(sel))
		for i, s := range sel {
			ls[1+i] = s.id
		}
		mu.Unlock()
		for _, s := range sel {
			g.link(s.id, id, l, s.s)
		}
		eps = w
	}
	if level > top {
		g.mu.Lock()
		if level > g.top {
			g.entry, g.top = id, level
		}
		g.mu.Unlock()
	}
	return nil
}

// link adds the edge from → to at level l, whose similarity is s,
// re-selecting from's neighbours when its list is full.
func (g *graph) link(from, to uint32, l int, s float32) {
	limit := g.m
	if l == 0 {
		limit = g.m0
	}
	mu := &g.locks[from%stripes]
	mu.Lock()
	defer mu.Unlock()
	ls := g.list(from, l)
	n := int(ls[0])
	for _, x := range ls[1 : 1+n] {
		if x == to {
			return
		}
	}
	if n < limit {
		ls[1+n] = to
		ls[0]++
		return
	}
	cs := make([]cand, 0, n+1)
	cs = append(cs, cand{to, s})
	for _, x := range ls[1 : 1+n] {
		cs = append(cs, cand{x, g.sim(from, x)})
	}
	sortDesc(cs)
	sel := g.selectNeighbours(cs, limit, from)
	ls[0] = uint32(len(sel))
	for i, c := range sel {
		ls[1+i] = c.id
	}
}

// selectNeighbours keeps up to limit of the candidates (sorted best first,
// scored against base), skipping one that is nearer to a neighbour already
// kept than to base, so that links spread over directions instead of
// crowding into one cluster.
func (g *graph) selectNeighbours(cs []cand, limit int, base uint32) []cand {
	out := make([]cand, 0, limit)
	for _, c := range cs {
		if c.id == base {
			continue
		}
		keep := true
		for _, r := range out {
			if g.sim(c.id, r.id) > c.s {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, c)
			if len(out) == limit {
				break
			}
		}
	}
	return out
}

// greedy walks level l from cur to the node with the highest score it
// can reach.
func (g *graph) greedy(score func(uint32) float32, cur cand, l int, buf *[]uint32) cand {
	for changed := true; changed; {
		changed = false
		*buf = g.neighbours(cur.id, l, *buf)
		for _, nb := range *buf {
			if s := score(nb); s > cur.s {
				cur, changed = cand{nb, s}, true
			}
		}
	}
	return cur
}

// searchLayer is the beam search of level l from eps with width ef for
// the nodes of highest score.
// Every reached node is expanded, but only nodes that accept admits
// (all, when nil) enter the results, so a filter narrows results without
// cutting paths. When budget > 0 and more than budget nodes have been
// expanded it stops and reports exhausted. The results are best first.
func (g *graph) searchLayer(score func(uint32) float32, eps []cand, ef, l int, accept func(uint32) bool, budget int, vis *visited, buf *[]uint32) (res []cand, exhausted bool) {
	vis.reset()
	var cands maxHeap
	var top minHeap
	for _, e := range eps {
		if vis.visit(e.id) {
			continue
		}
		cands.push(e)
		if accept == nil || accept(e.id) {
			top.push(e)
			if len(top) > ef {
				top.pop()
			}
		}
	}
	expanded := 0
	for len(cands) > 0 {
		c := cands.pop()
		if len(top) >= ef && c.s < top[0].s {
			break
		}
		if expanded++; budget > 0 && expanded > budget {
			exhausted = true
			break
		}
		*buf = g.neighbours(c.id, l, *buf)
		for _, nb := range *buf {
			if vis.visit(nb) {
				continue
			}
			s := score(nb)
			if len(top) < ef || s > top[0].s {
				cands.push(cand{nb, s})
				if accept == nil || accept(nb) {
					top.push(cand{nb, s})
					if len(top) > ef {
						top.pop()
					}
				}
			}
		}
	}
	res = []cand(top)
	sortDesc(res)
	return res, exhausted
}
