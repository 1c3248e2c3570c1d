package telemetry

import (
	"strconv"
	"sync"
	"sync/atomic"
)

// Other is the label value that stands for every value a bounded label
// does not admit: an alias the routing table does not know, a tenant
// beyond the cap.
const Other = "other"

// bounded admits label values: those known (by the known function) always,
// others until max distinct ones have been seen, then Other. It is safe
// for concurrent use; admitting a value already seen takes no lock.
type bounded struct {
	known func(string) bool // nil: nothing is known in advance
	max   int64             // distinct unknown values admitted
	seen  sync.Map          // string → struct{}
	n     atomic.Int64
	mu    sync.Mutex // serialises admitting a new value
}

func (b *bounded) value(v string) string {
	if v == "" {
		return ""
	}
	if b.known != nil && b.known(v) {
		return v
	}
	if b.max <= 0 {
		return Other
	}
	if _, ok := b.seen.Load(v); ok {
		return v
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen.Load(v); ok {
		return v
	}
	if b.n.Load() >= b.max {
		return Other
	}
	b.seen.Store(v, struct{}{})
	b.n.Add(1)
	return v
}

// statusText holds the label value of every HTTP status, so that labelling
// a request by its status does not format a number.
var statusText = func() [600]string {
	var t [600]string
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func statusLabel(code int) string {
	if code >= 0 && code < len(statusText) {
		return statusText[code]
	}
	return Other
}
