package vector

import (
	"context"
	"slices"
)

// Search returns up to k nearest live keys that f admits, best first, with
// the default beam width (Store).
func (ix *Index) Search(ctx context.Context, q []float32, k int, f Filter) ([]Hit, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return ix.SearchWith(q, k, f, SearchOptions{})
}

// SearchWith is Search with per-query options.
//
// How a filter is applied: with Filter.Keys the index scores exactly the
// listed keys (a candidate list from the caller, e.g. the chunks of one
// document). With only Filter.Match the graph search runs as usual but
// admits to its results only nodes that match, so it keeps walking
// through nodes that do not; if that costs more than a budget of
// expansions (a very selective filter) or finds fewer than k, it falls
// back to an exact scan of the matching nodes, so results are never
// missing merely because matches are rare.
func (ix *Index) SearchWith(q []float32, k int, f Filter, o SearchOptions) ([]Hit, error) {
	qn, err := normalize(q, ix.dim)
	if err != nil {
		return nil, err
	}
	if k <= 0 {
		return nil, nil
	}
	g := ix.g.Load()
	if f.Keys != nil {
		return g.scoreKeys(qn, k, f), nil
	}
	ef := o.Ef
	if ef <= 0 {
		ef = ix.opts.EfSearch
	}
	ef = max(ef, k)
	return g.search(qn, k, ef, f.Match), nil
}

// Exact returns the k nearest live keys that match admits (all, when nil)
// by scoring every stored vector: the reference that tests and benchmarks
// measure recall against, and a fine choice for small indexes.
func (ix *Index) Exact(q []float32, k int, match func(uint64) bool) ([]Hit, error) {
	qn, err := normalize(q, ix.dim)
	if err != nil {
		return nil, err
	}
	if k <= 0 {
		return nil, nil
	}
	g := ix.g.Load()
	return g.hits(g.scan(qn, k, g.acceptor(match))), nil
}

func (g *graph) acceptor(match func(uint64) bool) func(uint32) bool {
	if match == nil {
		return func(id uint32) bool { return !g.dead(id) }
	}
	return func(id uint32) bool { return !g.dead(id) && match(g.key(id)) }
}

func (g *graph) search(q []float32, k, ef int, match func(uint64) bool) []Hit {
	g.mu.RLock()
	n, entry, top, live := g.n, g.entry, g.top, len(g.keys)
	g.mu.RUnlock()
	if live == 0 {
		return nil
	}
	accept := g.acceptor(match)
	if int(n) <= ef {
		return g.hits(g.scan(q, k, accept))
	}
	vis := g.visits.get(int(n))
	defer g.visits.put(vis)
	var buf []uint32
	score := func(id uint32) float32 { return g.score(q, id) }
	cur := cand{entry, score(entry)}
	for l := top; l > 0; l-- {
		cur = g.greedy(score, cur, l, &buf)
	}
	budget := max(16*ef, 1024)
	res, exhausted := g.searchLayer(score, []cand{cur}, ef, 0, accept, budget, vis, &buf)
	if exhausted || (len(res) < k && len(res) < live) {
		res = g.scan(q, k, accept)
	}
	return g.hits(res[:min(k, len(res))])
}

// scan scores every allocated node that accept admits and returns the k
// best, best first.
func (g *graph) scan(q []float32, k int, accept func(uint32) bool) []cand {
	g.mu.RLock()
	n := g.n
	g.mu.RUnlock()
	var top minHeap
	for id := range n {
		if !accept(id) {
			continue
		}
		s := g.score(q, id)
		if len(top) < k {
			top.push(cand{id, s})
		} else if s > top[0].s {
			top.pop()
			top.push(cand{id, s})
		}
	}
	res := []cand(top)
	sortDesc(res)
	return res
}

// scoreKeys scores the live keys of f.Keys that f.Match admits.
func (g *graph) scoreKeys(q []float32, k int, f Filter) []Hit {
	keys := slices.Clone(f.Keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	ids := make([]uint32, 0, len(keys))
	g.mu.RLock()
	for _, key := range keys {
		if id, ok := g.keys[key]; ok {
			ids = append(ids, id)
		}
	}
	g.mu.RUnlock()
	var top minHeap
	for _, id := range ids {
		if g.dead(id) || (f.Match != nil && !f.Match(g.key(id))) {
			continue
		}
		s := g.score(q, id)
		if len(top) < k {
			top.push(cand{id, s})
		} else if s > top[0].s {
			top.pop()
			top.push(cand{id, s})
		}
	}
	res := []cand(top)
	sortDesc(res)
	return g.hits(res)
}

func (g *graph) hits(cs []cand) []Hit {
	if len(cs) == 0 {
		return nil
	}
	out := make([]Hit, len(cs))
	for i, c := range cs {
		out[i] = Hit{Key: g.key(c.id), Score: c.s}
	}
	return out
}
