package limit

import (
	"context"
	"crypto/rand"
	"sync"
	"time"
)

// MemoryOptions configure a Memory limiter. The zero value is valid.
type MemoryOptions struct {
	// Now is the clock; nil means time.Now. Tests inject a fake one.
	Now func() time.Time
	// Lease is how long an unsettled reservation holds its concurrency
	// slot; 0 means DefaultLease.
	Lease time.Duration
}

// Memory is the embedded limiter: exact, in process, for one replica. It is
// safe for concurrent use; one mutex guards all state, so a reservation
// against several scopes is atomic.
type Memory struct {
	now   func() time.Time
	lease time.Duration

	mu     sync.Mutex
	scopes map[string]*memScope
	open   map[string]*memReservation // unsettled reservations by ID
	calls  int                        // Reserve calls since the last sweep
}

var _ Limiter = (*Memory)(nil)

// memScope is the state of one scope.
type memScope struct {
	req, tok ring
	inFlight map[string]time.Time // reservation ID → lease expiry
}

// ring holds a window's slots: cell s%WindowSlots holds slot s if slot[cell]
// is s, and is stale otherwise.
type ring struct {
	slot [WindowSlots]int64
	used [WindowSlots]int
	last int64 // the latest slot written
}

// slotOf returns the number of the slot t falls in and how far into it t
// is.
func slotOf(t time.Time) (int64, time.Duration) {
	us := t.UnixMicro()
	g := Granularity.Microseconds()
	k := us / g
	if us < 0 && us%g != 0 {
		k--
	}
	return k, time.Duration(us-k*g) * time.Microsecond
}

func cell(s int64) int {
	c := int(s % int64(WindowSlots))
	if c < 0 {
		c += WindowSlots
	}
	return c
}

// window returns the ring's use as of slot k.
func (r *ring) window(k int64) Window {
	var w Window
	for a := range WindowSlots {
		if s := k - int64(a); r.slot[cell(s)] == s {
			w.Used[a] = r.used[cell(s)]
		}
	}
	return w
}

// add records n units used in slot k.
func (r *ring) add(k int64, n int) {
	c := cell(k)
	if r.slot[c] != k {
		r.slot[c], r.used[c] = k, 0
	}
	r.used[c] += n
	r.last = max(r.last, k)
}

// giveBack removes up to n units recorded in slot k0, if that slot is
// still in the window of slot k.
func (r *ring) giveBack(k, k0 int64, n int) {
	if c := cell(k0); k-k0 < int64(WindowSlots) && r.slot[c] == k0 {
		r.used[c] -= min(n, r.used[c])
	}
}

// idle reports whether nothing the ring holds is in the window of slot k.
func (r *ring) idle(k int64) bool { return k-r.last >= int64(WindowSlots) }

// sweepEvery is how many Reserve calls pass between sweeps of idle state.
const sweepEvery = 4096

// NewMemory returns an empty Memory limiter.
func NewMemory(o MemoryOptions) *Memory {
	m := &Memory{now: o.Now, lease: o.Lease, scopes: map[string]*memScope{}, open: map[string]*memReservation{}}
	if m.now == nil {
		m.now = time.Now
	}
	if m.lease <= 0 {
		m.lease = DefaultLease
	}
	return m
}

// Reserve implements Limiter.
func (m *Memory) Reserve(ctx context.Context, scopes []Scope, tokens int) (Reservation, Decision, error) {
	if err := Validate(scopes, tokens); err != nil {
		return nil, Decision{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	k, into := slotOf(now)
	m.calls++
	if m.calls >= sweepEvery {
		m.sweep(now, k)
	}

	states := make([]*memScope, len(scopes))
	levels := make([]Level, len(scopes))
	for i, s := range scopes {
		st := m.scopes[s.String()]
		if st == nil {
			st = &memScope{}
			m.scopes[s.String()] = st
		}
		states[i] = st
		st.expire(now)
		lv := &levels[i]
		if s.Limits.RequestsPerMinute > 0 {
			lv.Requests = st.req.window(k)
		}
		if s.Limits.TokensPerMinute > 0 {
			lv.Tokens = st.tok.window(k)
		}
		lv.InFlight = len(st.inFlight)
	}
	d := Decide(scopes, levels, tokens, into)
	if !d.Allowed {
		return nil, d, nil
	}
	r := &memReservation{m: m, id: rand.Text(), scopes: append([]Scope(nil), scopes...), tokens: tokens, slot: k, expires: now.Add(m.lease + 2*Period)}
	for i, s := range scopes {
		st, l := states[i], s.Limits
		if l.RequestsPerMinute > 0 {
			st.req.add(k, 1)
		}
		if l.TokensPerMinute > 0 {
			st.tok.add(k, tokens)
		}
		if l.Concurrent > 0 {
			if st.inFlight == nil {
				st.inFlight = map[string]time.Time{}
			}
			st.inFlight[r.id] = now.Add(m.lease)
		}
	}
	m.open[r.id] = r
	return r, d, nil
}

// expire frees the concurrency slots whose lease ran out.
func (st *memScope) expire(now time.Time) {
	for id, exp := range st.inFlight {
		if !now.Before(exp) {
			delete(st.inFlight, id)
		}
	}
}

// sweep forgets scopes with nothing in their window and no slot held, and
// reservations too old to settle. m.mu must be held.
func (m *Memory) sweep(now time.Time, k int64) {
	m.calls = 0
	for name, st := range m.scopes {
		st.expire(now)
		if len(st.inFlight) == 0 && st.req.idle(k) && st.tok.idle(k) {
			delete(m.scopes, name)
		}
	}
	for id, r := range m.open {
		if !now.Before(r.expires) {
			delete(m.open, id)
		}
	}
}

// settle applies a commit (requests 0, tokens actual-estimate) or a cancel
// (requests -1, tokens -estimate) once. Use given back is taken from the
// slot the reservation was recorded in (if it is still in the window);
// extra use is recorded in the current slot.
func (m *Memory) settle(r *memReservation, requests, tokens int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.open[r.id] != r {
		return // already settled, or too old
	}
	delete(m.open, r.id)
	k, _ := slotOf(m.now())
	for _, s := range r.scopes {
		st := m.scopes[s.String()]
		if st == nil {
			continue // swept: nothing in the window, nothing held
		}
		delete(st.inFlight, r.id)
		if s.Limits.RequestsPerMinute > 0 && requests < 0 {
			st.req.giveBack(k, r.slot, -requests)
		}
		if s.Limits.TokensPerMinute > 0 {
			switch {
			case tokens < 0:
				st.tok.giveBack(k, r.slot, -tokens)
			case tokens > 0:
				st.tok.add(k, tokens)
			}
		}
	}
}

// memReservation is a Memory reservation.
type memReservation struct {
	m       *Memory
	id      string
	scopes  []Scope
	tokens  int
	slot    int64 // the slot its use was recorded in
	expires time.Time
}

func (r *memReservation) ID() string { return r.id }

func (r *memReservation) Commit(ctx context.Context, tokens int) error {
	if err := ValidateCommit(tokens); err != nil {
		return err
	}
	r.m.settle(r, 0, tokens-r.tokens)
	return nil
}

func (r *memReservation) Cancel(ctx context.Context) error {
	r.m.settle(r, -1, -r.tokens)
	return nil
}
