package cache

import (
	"container/list"
	"context"
	"math"
	"slices"
	"sync"
	"time"
)

// Match is what an index found for a question: the key of the exact
// cache's entry of the nearest earlier question in its bucket, and their
// cosine similarity.
type Match struct {
	Key   string
	Score float32
}

// Normalize scales v to unit length in place (a zero vector stays zero)
// and returns it.
func Normalize(v []float32) []float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return v
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
	return v
}

// Dot is the dot product of a and b over their common length: their
// cosine similarity when both are unit length.
func Dot(a, b []float32) float32 {
	n := min(len(a), len(b))
	a, b = a[:n], b[:n]
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// Nearest returns the best of the candidates cand calls yield with whose
// similarity to q is at least threshold; q and the candidates are unit
// length and of the same dimension (others are skipped).
func Nearest(q []float32, threshold float32, cand func(yield func(vec []float32, key string))) (Match, bool) {
	best, found := Match{Score: -2}, false
	cand(func(vec []float32, key string) {
		if len(vec) != len(q) {
			return
		}
		if s := Dot(q, vec); s >= threshold && s > best.Score {
			best, found = Match{Key: key, Score: s}, true
		}
	})
	return best, found
}

// vecOverhead is what a vector of MemoryIndex costs beyond its components
// and its key: the list element, the item and its slot in a bucket.
const vecOverhead = 160

// MemoryIndex is the embedded shape's semantic index: per bucket, the
// vectors of the questions whose answers were cached, with the keys of
// those answers, searched by brute force. It is bounded twice: a bucket
// keeps its newest perBucket vectors (so a search reads at most that
// many), and the whole index at most maxBytes (the oldest vectors,
// whatever their bucket, go first). A vector expires with its answer's
// TTL. It is safe for concurrent use.
type MemoryIndex struct {
	maxBytes  int64
	perBucket int
	now       func() time.Time

	mu      sync.Mutex // guards what follows
	size    int64
	order   *list.List // of *vecItem, oldest at the back
	buckets map[string][]*list.Element
}

type vecItem struct {
	bucket  string
	key     string
	vec     []float32
	expires time.Time
}

func (it *vecItem) size() int64 {
	return int64(4*len(it.vec) + len(it.key) + len(it.bucket) + vecOverhead)
}

// NewMemoryIndex returns a MemoryIndex of at most maxBytes, each bucket
// keeping at most perBucket vectors. now is the clock; nil means time.Now.
func NewMemoryIndex(maxBytes int64, perBucket int, now func() time.Time) *MemoryIndex {
	if now == nil {
		now = time.Now
	}
	return &MemoryIndex{maxBytes: maxBytes, perBucket: max(perBucket, 1), now: now, order: list.New(),
		buckets: map[string][]*list.Element{}}
}

// Search returns the vector of bucket nearest to vec (unit length) if its
// similarity is at least threshold.
func (m *MemoryIndex) Search(_ context.Context, bucket string, vec []float32, threshold float32) (Match, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var expired []*list.Element
	match, ok := Nearest(vec, threshold, func(yield func([]float32, string)) {
		for _, e := range m.buckets[bucket] {
			it := e.Value.(*vecItem)
			if !now.Before(it.expires) {
				expired = append(expired, e)
				continue
			}
			yield(it.vec, it.key)
		}
	})
	for _, e := range expired {
		m.remove(e)
	}
	return match, ok, nil
}

// Add adds vec (unit length; the index keeps it, the caller must not
// modify it) pointing at key to bucket for ttl.
func (m *MemoryIndex) Add(_ context.Context, bucket string, vec []float32, key string, ttl time.Duration) error {
	it := &vecItem{bucket: bucket, key: key, vec: vec, expires: m.now().Add(ttl)}
	if ttl <= 0 || it.size() > m.maxBytes {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.buckets[bucket] {
		if e.Value.(*vecItem).key == key { // the same question again: refreshed
			m.remove(e)
			break
		}
	}
	if b := m.buckets[bucket]; len(b) >= m.perBucket {
		m.remove(b[0])
	}
	e := m.order.PushFront(it)
	m.buckets[bucket] = append(m.buckets[bucket], e)
	m.size += it.size()
	for m.size > m.maxBytes {
		m.remove(m.order.Back())
	}
	return nil
}

// Len and Bytes report how many vectors the index holds and their size.
func (m *MemoryIndex) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len()
}

func (m *MemoryIndex) Bytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.size
}

// remove drops e from the order and from its bucket (whose slice is in
// insertion order, oldest first).
func (m *MemoryIndex) remove(e *list.Element) {
	it := m.order.Remove(e).(*vecItem)
	m.size -= it.size()
	b := m.buckets[it.bucket]
	if i := slices.Index(b, e); i >= 0 {
		b = slices.Delete(b, i, i+1)
	}
	if len(b) == 0 {
		delete(m.buckets, it.bucket)
	} else {
		m.buckets[it.bucket] = b
	}
}
