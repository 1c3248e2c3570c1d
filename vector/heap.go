package vector

import (
	"slices"
	"sync"
)

// cand is a node and its similarity to the query being served.
type cand struct {
	id uint32
	s  float32
}

// sortDesc sorts by similarity, best first, ties by id.
func sortDesc(cs []cand) {
	slices.SortFunc(cs, func(a, b cand) int {
		switch {
		case a.s > b.s:
			return -1
		case a.s < b.s:
			return 1
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
}

// maxHeap pops the most similar candidate first. It is hand-written
// rather than container/heap to avoid an interface call per comparison on
// the hottest path of a search.
type maxHeap []cand

func (h *maxHeap) push(c cand) {
	*h = append(*h, c)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].s >= a[i].s {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *maxHeap) pop() cand {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && a[l].s > a[m].s {
			m = l
		}
		if r < n && a[r].s > a[m].s {
			m = r
		}
		if m == i {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return top
}

// minHeap keeps the least similar of the best so far at index 0.
type minHeap []cand

func (h *minHeap) push(c cand) {
	*h = append(*h, c)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].s <= a[i].s {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *minHeap) pop() cand {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && a[l].s < a[m].s {
			m = l
		}
		if r < n && a[r].s < a[m].s {
			m = r
		}
		if m == i {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return top
}

// visited marks the nodes one search has reached. Marks are epochs, so
// reset is O(1) and a 1M-node set is reused instead of zeroed.
type visited struct {
	marks []uint32
	epoch uint32
}

func (v *visited) reset() {
	v.epoch++
	if v.epoch == 0 {
		clear(v.marks)
		v.epoch = 1
	}
}

// visit marks id and reports whether it was already marked. Ids
// allocated after the set was sized (by concurrent inserts) grow it.
func (v *visited) visit(id uint32) bool {
	if int(id) >= len(v.marks) {
		v.marks = append(v.marks, make([]uint32, int(id)+1-len(v.marks)+len(v.marks)/4)...)
	}
	if v.marks[id] == v.epoch {
		return true
	}
	v.marks[id] = v.epoch
	return false
}

// visitPool keeps visited sets between searches: allocating and zeroing
// 4 MB per search at 1M nodes would cost more than the search itself. A
// set never outlives the call that got it. (A mutex-guarded free list, not
// sync.Pool, so sets survive a GC and their number stays bounded by the
// concurrency of searches.)
type visitPool struct {
	mu   sync.Mutex
	free []*visited
}

func (p *visitPool) get(n int) *visited {
	p.mu.Lock()
	var v *visited
	if k := len(p.free); k > 0 {
		v = p.free[k-1]
		p.free = p.free[:k-1]
	}
	p.mu.Unlock()
	if v == nil {
		v = &visited{}
	}
	if len(v.marks) < n {
		v.marks = append(v.marks, make([]uint32, n-len(v.marks)+n/4)...)
	}
	return v
}

func (p *visitPool) put(v *visited) {
	p.mu.Lock()
	if len(p.free) < 64 {
		p.free = append(p.free, v)
	}
	p.mu.Unlock()
}
