package limit

import (
	"context"
	"sort"
	"sync"
)

// Reconciler is the optional capability of a shared limiter to take in use
// it did not count: what a Fallback admitted on its own while the shared
// limiter was unreachable. Fallback reconciles with it, if the shared
// limiter has it, before it serves from the shared limiter again.
//
// An epoch names the state of the shared limiter's counts: it stays the
// same while the shared limiter keeps them, through a restart that
// restores them too, and changes when it loses them, as a Redis restarted
// empty does. A replica that saw epoch e before an outage and finds e
// again after it knows that what it admitted through the shared limiter is
// still counted there; if it finds another epoch or none, it knows that
// this was lost, and gives its own part back once.
type Reconciler interface {
	// Epoch returns the epoch in force, creating one if there is none.
	Epoch(ctx context.Context) (string, error)
	// Reconcile applies use to the scopes' windows, all scopes at once,
	// and returns the epoch in force afterwards, created if there was
	// none. epoch is the one the caller last saw, "" if it never learned
	// one. Each Use's Local counts are added to the slot their Age names.
	// Its Shared counts depend on epoch:
	//   - epoch is "" or still in force: they are a floor, since the
	//     shared limiter counted them (or the caller cannot tell): a
	//     window (requests or tokens) that holds less than the sum of
	//     its scope's Shared counts is raised to that sum, youngest slots
	//     first. With the epoch in force the window normally holds them
	//     already and the floor changes nothing; it restores them if the
	//     shared limiter came back with an older copy of its counts.
	//   - epoch is no longer in force: the shared limiter lost them, and
	//     they are added like Local counts. Each replica adds only its
	//     own, once, so what several replicas admitted before the loss
	//     sums up.
	// Reconcile applies a given id once: a retry of a call that was
	// applied applies nothing and returns the epoch in force.
	Reconcile(ctx context.Context, id, epoch string, use []Use) (string, error)
}

// Use is one scope's use to reconcile, by slot. Only Scope.Kind and
// Scope.ID matter.
type Use struct {
	Scope Scope
	Slots []SlotUse
}

// SlotUse is the use of one slot, Age slots before the current one.
type SlotUse struct {
	Age int
	// Local was admitted without the shared limiter: it is added.
	Local Counts
	// Shared was admitted through the shared limiter (or reconciled into
	// it before) by this replica: the shared limiter holds it unless it
	// lost its state, as a Redis restarted empty does (the epoch tells).
	Shared Counts
}

// Counts are requests and tokens.
type Counts struct {
	Requests, Tokens int
}

func (c Counts) isZero() bool { return c == Counts{} }

// own is what one replica admitted in the last window, by scope and slot,
// in two parts: what the shared limiter knows (admitted through it, or
// reconciled into it) and what it does not yet (admitted locally). It is
// safe for concurrent use.
type own struct {
	mu     sync.Mutex
	scopes map[string]*ownScope
	calls  int // records since the last sweep
	// dirty reports whether some local use waits to be reconciled. It is
	// written with mu held.
	dirty func(bool)
}

type ownScope struct {
	scope Scope // Kind and ID
	slots map[int64]*ownSlot
	last  int64
}

type ownSlot struct{ shared, local Counts }

func newOwn(dirty func(bool)) *own {
	return &own{scopes: map[string]*ownScope{}, dirty: dirty}
}

// slot returns scope s's slot k, creating it. o.mu must be held.
func (o *own) slot(s Scope, k int64) *ownSlot {
	name := s.String()
	st := o.scopes[name]
	if st == nil {
		st = &ownScope{scope: Scope{Kind: s.Kind, ID: s.ID}, slots: map[int64]*ownSlot{}}
		o.scopes[name] = st
	}
	sl := st.slots[k]
	if sl == nil {
		sl = &ownSlot{}
		st.slots[k] = sl
	}
	st.last = max(st.last, k)
	return sl
}

// admitted records a reservation of one request and tokens in slot k,
// local or through the shared limiter, in the dimensions scopes limit.
func (o *own) admitted(scopes []Scope, k int64, tokens int, local bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.calls++; o.calls >= sweepEvery {
		o.sweep(k)
	}
	for _, s := range scopes {
		var c Counts
		if s.Limits.RequestsPerMinute > 0 {
			c.Requests = 1
		}
		if s.Limits.TokensPerMinute > 0 {
			c.Tokens = tokens
		}
		if c.isZero() {
			continue
		}
		sl := o.slot(s, k)
		if local {
			sl.local.Requests += c.Requests
			sl.local.Tokens += c.Tokens
		} else {
			sl.shared.Requests += c.Requests
			sl.shared.Tokens += c.Tokens
		}
	}
	if local {
		o.dirty(true)
	}
}

// settled records a settlement as Memory.settle applies it: requests and
// negative tokens are given back from slot k0 (local use first if the
// reservation was local), extra tokens are added in slot k.
func (o *own) settled(scopes []Scope, k0, k int64, requests, tokens int, local bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range scopes {
		st := o.scopes[s.String()]
		if tokens > 0 && s.Limits.TokensPerMinute > 0 {
			sl := o.slot(s, k)
			if local {
				sl.local.Tokens += tokens
				o.dirty(true)
			} else {
				sl.shared.Tokens += tokens
			}
			continue
		}
		if st == nil || k-k0 >= int64(WindowSlots) || st.slots[k0] == nil {
			continue
		}
		sl := st.slots[k0]
		if requests < 0 && s.Limits.RequestsPerMinute > 0 {
			giveBack(&sl.local.Requests, &sl.shared.Requests, -requests, local)
		}
		if tokens < 0 && s.Limits.TokensPerMinute > 0 {
			giveBack(&sl.local.Tokens, &sl.shared.Tokens, -tokens, local)
		}
	}
}

// giveBack takes n from local (first, if the use was local) and shared.
func giveBack(local, shared *int, n int, fromLocal bool) {
	if fromLocal {
		t := min(n, *local)
		*local -= t
		n -= t
	}
	*shared -= min(n, *shared)
}

// sweep forgets slots that left the window of slot k. o.mu must be held.
func (o *own) sweep(k int64) {
	o.calls = 0
	for name, st := range o.scopes {
		if k-st.last >= int64(WindowSlots) {
			delete(o.scopes, name)
			continue
		}
		for s := range st.slots {
			if k-s >= int64(WindowSlots) {
				delete(st.slots, s)
			}
		}
	}
}

// pending is local use taken from own to reconcile: by scope name, the
// scope and its use by slot.
type pending struct {
	id string
	// shared reports whether it is pushed with the shared use, every
	// time it is sent.
	shared bool
	scopes map[string]*pendingScope
}

type pendingScope struct {
	scope Scope
	slots map[int64]Counts
}

// takeLocal moves the local use in the window of slot k out of o.
func (o *own) takeLocal(k int64) *pending {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := &pending{scopes: map[string]*pendingScope{}}
	for name, st := range o.scopes {
		for s, sl := range st.slots {
			if sl.local.isZero() || k-s >= int64(WindowSlots) {
				continue
			}
			ps := p.scopes[name]
			if ps == nil {
				ps = &pendingScope{scope: st.scope, slots: map[int64]Counts{}}
				p.scopes[name] = ps
			}
			ps.slots[s] = sl.local
			sl.local = Counts{}
		}
	}
	o.dirty(false)
	return p
}

// reconciled records that p reached the shared limiter: its use is now
// shared.
func (o *own) reconciled(p *pending) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, ps := range p.scopes {
		for s, c := range ps.slots {
			sl := o.slot(ps.scope, s)
			sl.shared.Requests += c.Requests
			sl.shared.Tokens += c.Tokens
		}
	}
}

// use returns p's use, and with shared the shared use of every scope, as
// of slot k, sorted by scope name. Slots that left the window are left
// out.
func (o *own) use(p *pending, k int64, shared bool) []Use {
	o.mu.Lock()
	defer o.mu.Unlock()
	byName := map[string]map[int]*SlotUse{}
	scopes := map[string]Scope{}
	at := func(name string, s Scope, slot int64) *SlotUse {
		age := k - slot
		if age < 0 {
			age = 0 // recorded by a clock that went back since
		}
		if age >= int64(WindowSlots) {
			return nil
		}
		m := byName[name]
		if m == nil {
			m = map[int]*SlotUse{}
			byName[name], scopes[name] = m, s
		}
		su := m[int(age)]
		if su == nil {
			su = &SlotUse{Age: int(age)}
			m[int(age)] = su
		}
		return su
	}
	if p != nil {
		for name, ps := range p.scopes {
			for s, c := range ps.slots {
				if su := at(name, ps.scope, s); su != nil {
					su.Local.Requests += c.Requests
					su.Local.Tokens += c.Tokens
				}
			}
		}
	}
	if shared {
		for name, st := range o.scopes {
			for s, sl := range st.slots {
				if sl.shared.isZero() {
					continue
				}
				if su := at(name, st.scope, s); su != nil {
					su.Shared.Requests += sl.shared.Requests
					su.Shared.Tokens += sl.shared.Tokens
				}
			}
		}
	}
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]Use, 0, len(names))
	for _, name := range names {
		u := Use{Scope: scopes[name]}
		for _, su := range byName[name] {
			u.Slots = append(u.Slots, *su)
		}
		sort.Slice(u.Slots, func(i, j int) bool { return u.Slots[i].Age < u.Slots[j].Age })
		out = append(out, u)
	}
	return out
}

// seed records in m every use o holds in the window of slot k, shared and
// local, so that m's windows start with what this replica admitted. Lock
// order: o.mu, then m.mu.
func (o *own) seed(m *Memory, k int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, st := range o.scopes {
		for s, sl := range st.slots {
			if k-s >= int64(WindowSlots) || s > k {
				continue
			}
			ms := m.scopes[name]
			if ms == nil {
				ms = &memScope{}
				m.scopes[name] = ms
			}
			if n := sl.shared.Requests + sl.local.Requests; n > 0 {
				ms.req.add(s, n)
			}
			if n := sl.shared.Tokens + sl.local.Tokens; n > 0 {
				ms.tok.add(s, n)
			}
		}
	}
}
