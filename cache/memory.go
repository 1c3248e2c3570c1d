package cache

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// entryOverhead is what an entry of Memory costs beyond its key and value:
// the list element, the map slot and the item.
const entryOverhead = 128

// Memory is the embedded shape's cache: a least-recently-used map bounded
// by bytes, each entry with its own expiry. It is safe for concurrent use.
type Memory struct {
	max int64
	now func() time.Time

	mu    sync.Mutex // guards what follows
	size  int64
	ll    *list.List // front: most recently used; of *item
	items map[string]*list.Element
}

type item struct {
	key     string
	val     []byte
	expires time.Time
}

func (it *item) size() int64 { return int64(len(it.key) + len(it.val) + entryOverhead) }

// NewMemory returns a Memory holding at most maxBytes. now is the clock;
// nil means time.Now.
func NewMemory(maxBytes int64, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{max: maxBytes, now: now, ll: list.New(), items: map[string]*list.Element{}}
}

// Get returns the value of key, if it holds one that has not expired. The
// value must not be modified.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.items[key]
	if !ok {
		return nil, false, nil
	}
	it := e.Value.(*item)
	if !m.now().Before(it.expires) {
		m.remove(e)
		return nil, false, nil
	}
	m.ll.MoveToFront(e)
	return it.val, true, nil
}

// Set stores val under key for ttl, evicting the least recently used
// entries past the bound. A value that alone exceeds the bound is not
// stored (and any older value of key is dropped). val must not be
// modified afterwards.
func (m *Memory) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	it := &item{key: key, val: val, expires: m.now().Add(ttl)}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.items[key]; ok {
		m.remove(e)
	}
	if ttl <= 0 || it.size() > m.max {
		return nil
	}
	m.items[key] = m.ll.PushFront(it)
	m.size += it.size()
	for m.size > m.max {
		m.remove(m.ll.Back())
	}
	return nil
}

// Len and Bytes report how many entries Memory holds and their size.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ll.Len()
}

func (m *Memory) Bytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.size
}

func (m *Memory) remove(e *list.Element) {
	it := m.ll.Remove(e).(*item)
	delete(m.items, it.key)
	m.size -= it.size()
}
