package limit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-ai/bulwark/resilience"
)

// FallbackOptions configure a Fallback. The zero value is valid.
type FallbackOptions struct {
	// Share is the part of each global limit one replica enforces locally
	// while the shared limiter is unreachable, typically 1/replicas; 0
	// means 1. It is taken to the nearest millionth, and a local limit is
	// the global one times that, rounded up (ShareOf): 0.34 of 600 is 204.
	// A limit that is not zero stays at least 1.
	Share float64
	// Timeout bounds each call to the shared limiter; 0 means 100ms.
	Timeout time.Duration
	// ReconcileTimeout bounds each reconciliation with the shared limiter
	// when an outage ends; 0 means 1s.
	ReconcileTimeout time.Duration
	// ProbeMin and ProbeMax bound the backoff between probes of the shared
	// limiter while degraded; 0 means 250ms and 5s.
	ProbeMin, ProbeMax time.Duration
	// Lease is the local limiter's lease (see MemoryOptions.Lease).
	Lease time.Duration
	// Now is the local limiter's clock; nil means time.Now.
	Now func() time.Time
	// OnChange, if set, is called when the Fallback becomes degraded (with
	// the error that made it so) and when it recovers (with nil), for logs
	// and metrics. It must not block.
	OnChange func(degraded bool, err error)
}

// Pinger is the optional capability of a shared limiter to check that it
// is reachable without touching any limit. Fallback probes with it if the
// shared limiter has it, and with an empty Reserve otherwise.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Fallback keeps a replica serving when its shared limiter (Redis) is
// unreachable: it calls the shared limiter with a short timeout and, when a
// call fails, serves from a local Memory limiter that enforces Share of
// each limit, reports Degraded, and probes the shared limiter with
// exponential backoff until it answers, then uses it again.
//
// Reservations are settled by the limiter that made them. Reservations held
// in the shared limiter when it became unreachable are reclaimed there by
// their lease.
//
// # What was admitted meanwhile
//
// A Fallback remembers, for the last window, what its replica admitted in
// each scope and slot — requests, and tokens as committed — and whether the
// shared limiter knows it. Two things follow.
//
// Mirroring: each outage starts a fresh local limiter whose windows hold
// what this replica admitted in the last minute, through the shared limiter
// too. While degraded, a replica therefore admits in any one-minute
// interval at most its local share counting its own admissions just before
// the outage (or nothing more, if those already exceed the share). A
// replica that served its share through Redis when Redis became
// unreachable does not admit a second share on top.
//
// Reconciliation: if the shared limiter is a Reconciler, when a probe
// answers and before the Fallback serves from the shared limiter again, it
// pushes what it admitted locally into the slots it was admitted in,
// together with what it admitted through the shared limiter in the last
// window and the epoch it last saw (see Reconciler). If the epoch is still
// in force, the shared limiter kept its counts and only the local use is
// added; if not (a Redis restarted empty), the replica's admissions
// through it are added back as well. Each replica adds its own once, so
// after every replica has reconciled the shared limiter counts what all of
// them admitted, however many there are. If the push fails the outage goes
// on and the next probe tries again; a push that was applied but whose
// answer was lost is not applied twice. Admissions made locally while the
// push ran, and tokens committed later by local reservations, are pushed by
// the next Reserve.
//
// The Fallback learns the epoch before its first Reserve through the
// shared limiter — one extra call, once; a failure is handled as a failed
// Reserve — and from each reconciliation after an outage. It reads it
// before, not after, its first admission so that a restart between the
// two can make it count that admission twice, never lose it. A Fallback
// whose first read failed reconciles its first outage with no epoch, which
// asks for a floor: the window is raised to at least what this replica
// admitted through the shared limiter.
//
// The bound this gives: for a scope, admissions in any one-minute interval
// stay within its limit plus the local share of each replica that served
// it locally in that interval and had not reconciled yet — with one
// replica cut off at a time, the limit plus one share, whether Redis kept
// its counts or restarted empty; once all have reconciled, Redis counts
// everything admitted, before and during, however many were cut off. Its
// limits: admissions a replica made through Redis before Redis restarted
// empty are restored only by that replica's own reconciliation, so other
// replicas reaching the empty Redis before it does are not held back by
// them; a replica that reconciles with no epoch
// (the floor) restores its admissions only where the window holds less
// than them, so after a restart other replicas' restored admissions may
// cover its own and the bound grows by what it admitted before; a restart
// a replica never noticed (the client reconnected within a call) is found
// at its next reconciliation, which then counts what it admitted since the
// restart twice, erring toward refusing; and use given back (a cancel, a
// commit below the estimate) after it was pushed stays counted in the
// shared limiter until it leaves the window.
//
// A Fallback is safe for concurrent use. Close stops its probe goroutine.
type Fallback struct {
	shared Limiter
	rec    Reconciler // nil if shared is not one
	local  atomic.Pointer[Memory]
	o      FallbackOptions
	ppm    int64 // the share in parts per million
	now    func() time.Time
	outage *resilience.Outage
	own    *own
	// dirty reports that local use waits to be reconciled.
	dirty atomic.Bool
	// epoch is the shared limiter's epoch as this replica last saw it;
	// nil until it learns one.
	epoch atomic.Pointer[string]

	pushMu sync.Mutex // held during a push; guards unpushed
	// unpushed is local use taken from own whose push failed: it is
	// pushed again, under the same id, before anything else.
	unpushed *pending
}

var _ Limiter = (*Fallback)(nil)

// NewFallback returns a Fallback over shared.
func NewFallback(shared Limiter, o FallbackOptions) *Fallback {
	if o.Share <= 0 || o.Share > 1 {
		o.Share = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 100 * time.Millisecond
	}
	if o.ReconcileTimeout <= 0 {
		o.ReconcileTimeout = time.Second
	}
	f := &Fallback{shared: shared, o: o, ppm: SharePPM(o.Share), now: o.Now}
	if f.now == nil {
		f.now = time.Now
	}
	f.rec, _ = shared.(Reconciler)
	f.own = newOwn(f.dirty.Store)
	f.local.Store(NewMemory(MemoryOptions{Now: o.Now, Lease: o.Lease}))
	f.outage = resilience.NewOutage(f.ping, resilience.OutageOptions{
		Timeout: o.Timeout, ProbeMin: o.ProbeMin, ProbeMax: o.ProbeMax, OnChange: o.OnChange,
		Recover: f.recover,
	})
	return f
}

// Degraded reports whether the Fallback is serving from its local limiter.
// The readiness check reports it.
func (f *Fallback) Degraded() bool { return f.outage.Degraded() }

// Reserve implements Limiter.
func (f *Fallback) Reserve(ctx context.Context, scopes []Scope, tokens int) (Reservation, Decision, error) {
	if err := Validate(scopes, tokens); err != nil {
		return nil, Decision{}, err
	}
	if !f.outage.Degraded() {
		r, d, err := f.reserveShared(ctx, scopes, tokens)
		switch {
		case err == nil:
			return r, d, nil
		case ctx.Err() != nil:
			return nil, Decision{}, ctx.Err() // the caller gave up; say nothing of the limiter
		case errors.Is(err, ErrInvalid):
			return nil, Decision{}, err
		}
		f.outage.Begin(err, f.prepare)
	}
	scaled := f.scale(scopes)
	r, d, err := f.local.Load().Reserve(ctx, scaled, tokens)
	if r == nil {
		return r, d, err
	}
	k, _ := slotOf(f.now())
	f.own.admitted(scaled, k, tokens, true)
	return &fallbackReservation{Reservation: r, f: f, scopes: scaled, tokens: tokens, slot: k, local: true}, d, nil
}

// reserveShared learns the shared limiter's epoch if it does not know it
// yet, pushes local use left from an outage, then reserves in the shared
// limiter, each call within the Timeout.
func (f *Fallback) reserveShared(ctx context.Context, scopes []Scope, tokens int) (Reservation, Decision, error) {
	if f.rec != nil && f.epoch.Load() == nil {
		cctx, cancel := context.WithTimeout(ctx, f.o.Timeout)
		e, err := f.rec.Epoch(cctx)
		cancel()
		if err != nil {
			return nil, Decision{}, fmt.Errorf("read the shared limiter's epoch: %w", err)
		}
		f.epoch.CompareAndSwap(nil, &e) // a reconciliation may have told a newer one
	}
	if f.dirty.Load() && f.rec != nil {
		cctx, cancel := context.WithTimeout(ctx, f.o.Timeout)
		err := f.push(cctx, false)
		cancel()
		if err != nil {
			return nil, Decision{}, err
		}
	}
	cctx, cancel := context.WithTimeout(ctx, f.o.Timeout)
	r, d, err := f.shared.Reserve(cctx, scopes, tokens)
	cancel()
	if r == nil {
		return r, d, err
	}
	k, _ := slotOf(f.now())
	f.own.admitted(scopes, k, tokens, false)
	return &fallbackReservation{Reservation: r, f: f, scopes: append([]Scope(nil), scopes...), tokens: tokens, slot: k}, d, nil
}

// prepare readies the local limiter of an outage about to begin: a fresh
// one, whose windows hold what this replica admitted in the last window.
func (f *Fallback) prepare() {
	m := NewMemory(MemoryOptions{Now: f.o.Now, Lease: f.o.Lease})
	k, _ := slotOf(f.now())
	f.own.seed(m, k)
	f.local.Store(m)
}

// recover reconciles at the end of an outage (resilience.Outage's
// Recover): the outage ends only if it succeeds.
func (f *Fallback) recover(ctx context.Context) error {
	if f.rec == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, f.o.ReconcileTimeout)
	defer cancel()
	return f.push(ctx, true)
}

// push reconciles the local use not yet pushed and, with shared, what this
// replica admitted through the shared limiter, in one Reconcile call under
// the epoch it last saw. Local use recorded while it runs is pushed by a
// second call; what is recorded during that one waits for the next push.
//
// A push that failed is sent again first, under its id and as it was
// first sent, with or without the shared use: if the shared limiter
// applied it before (and so ignores the retry), the epoch it answers is
// the one that call saw. The shared use, if wanted and not in it, goes in
// a call of its own.
func (f *Fallback) push(ctx context.Context, shared bool) error {
	f.pushMu.Lock()
	defer f.pushMu.Unlock()
	if p := f.unpushed; p != nil {
		if err := f.send(ctx, p); err != nil {
			return err
		}
		shared = shared && !p.shared
	}
	for range 2 {
		k, _ := slotOf(f.now())
		p := f.own.takeLocal(k)
		if len(p.scopes) == 0 && !shared {
			return nil
		}
		p.id, p.shared = rand.Text(), shared
		f.unpushed = p
		if err := f.send(ctx, p); err != nil {
			return err
		}
		if !f.dirty.Load() {
			return nil
		}
		shared = false // pushed once; what is left is local use made meanwhile
	}
	return nil
}

// send reconciles p, with the shared use if p.shared, and records that it
// reached the shared limiter. f.pushMu must be held.
//
// The epoch the shared limiter answers is adopted only from a call with
// the shared use, which gave back what this replica admitted through it if
// the shared limiter had lost it. A call without it that finds the epoch
// changed leaves the old one, so that the next reconciliation with the
// shared use gives that back.
func (f *Fallback) send(ctx context.Context, p *pending) error {
	k, _ := slotOf(f.now())
	// With the shared use, the call is made even with nothing to push: it
	// tells the epoch in force.
	if use := f.own.use(p, k, p.shared); len(use) > 0 || p.shared {
		var seen string
		if e := f.epoch.Load(); e != nil {
			seen = *e
		}
		e, err := f.rec.Reconcile(ctx, p.id, seen, use)
		if err != nil {
			return fmt.Errorf("reconcile local limits: %w", err)
		}
		if p.shared {
			f.epoch.Store(&e)
		}
	}
	f.own.reconciled(p)
	f.unpushed = nil
	return nil
}

// scale returns scopes with every limit cut to the local share.
func (f *Fallback) scale(scopes []Scope) []Scope {
	if f.ppm == 1e6 {
		return scopes
	}
	out := make([]Scope, len(scopes))
	for i, s := range scopes {
		s.Limits = Limits{
			RequestsPerMinute: f.share(s.Limits.RequestsPerMinute),
			TokensPerMinute:   f.share(s.Limits.TokensPerMinute),
			Concurrent:        f.share(s.Limits.Concurrent),
		}
		out[i] = s
	}
	return out
}

func (f *Fallback) share(limit int) int { return ShareOf(limit, f.ppm) }

// SharePPM returns share (above 0, at most 1; anything else means 1) in
// parts per million, rounded to the nearest.
func SharePPM(share float64) int64 {
	if !(share > 0 && share <= 1) {
		return 1e6
	}
	return max(int64(math.Round(share*1e6)), 1)
}

// ShareOf returns ppm parts per million of limit rounded up, in integers so
// that 0.34 of 600 is 204, not 205: at least 1 if limit is not zero.
func ShareOf(limit int, ppm int64) int {
	if limit <= 0 {
		return 0
	}
	return int(max((int64(limit)*ppm+999_999)/1_000_000, 1))
}

func (f *Fallback) ping(ctx context.Context) error {
	if p, ok := f.shared.(Pinger); ok {
		return p.Ping(ctx)
	}
	r, _, err := f.shared.Reserve(ctx, nil, 0)
	if err != nil {
		return err
	}
	return r.Cancel(ctx)
}

// Probe checks that the shared limiter answers within ctx, for the
// readiness check. When it does not, the Fallback serves locally from
// then on, as after a failed Reserve, until its own probes find the
// shared limiter again; a probe cut short by canceling ctx changes
// nothing.
func (f *Fallback) Probe(ctx context.Context) error {
	err := f.ping(ctx)
	if err != nil && !errors.Is(ctx.Err(), context.Canceled) {
		f.outage.Begin(err, f.prepare)
	}
	return err
}

// Close stops probing and waits for the probe goroutine to end. The
// Fallback keeps serving (from whichever limiter it was using) after Close.
func (f *Fallback) Close() error { return f.outage.Close() }

// fallbackReservation is a reservation of the shared or the local limiter
// that records its settlement in own.
type fallbackReservation struct {
	Reservation
	f       *Fallback
	scopes  []Scope
	tokens  int
	slot    int64 // the local slot it was recorded in
	local   bool
	settled atomic.Bool
}

func (r *fallbackReservation) Commit(ctx context.Context, tokens int) error {
	if err := r.Reservation.Commit(ctx, tokens); err != nil {
		return err
	}
	r.record(0, tokens-r.tokens)
	return nil
}

func (r *fallbackReservation) Cancel(ctx context.Context) error {
	if err := r.Reservation.Cancel(ctx); err != nil {
		return err
	}
	r.record(-1, -r.tokens)
	return nil
}

func (r *fallbackReservation) record(requests, tokens int) {
	if r.settled.Swap(true) {
		return
	}
	k, _ := slotOf(r.f.now())
	r.f.own.settled(r.scopes, r.slot, k, requests, tokens, r.local)
}
