package shed

import (
	"context"
	"math"
	"sync"
	"time"
)

// Spare capacity. Work that nobody waits for (the lines of a Batch API
// batch) should fill what the other requests leave of a target and cost
// them nothing: not a slot they then wait for, not a queue that stands
// in front of them, not a queue at the upstream. A request whose context
// is marked SpareOnly therefore never joins the target's queue (where it
// would make its tenant's queue stand, codel.go, and wait in front of
// nobody but still count as demand): it takes a permit only while the
// target has spare room, and otherwise waits aside, outside every count
// the queue is judged by, until room comes back. Spare room is
//
//   - no request of any class waiting for the target (a waiter means the
//     limit is what the others need now);
//   - the limit, less the critical reserve, less a headroom
//     (spareHeadroom of the limit, at least one permit), with room: the
//     others' next arrivals find a permit free at once rather than wait
//     for a spare-only call to end;
//   - while other requests are in flight, latency near its baseline (the
//     last call learned within spareTolerance of it, or within half the
//     jitter): the upstream does not queue, so a spare-only call adds no
//     wait to anyone's (with spare work alone there is no one to delay,
//     and the limit's own rules apply); an overload answer closes the
//     room until a call within it is learned (with nothing in flight, one
//     call at a time may go, headroom or not, so that the limit learns
//     again);
//   - no pause (an upstream's Retry-After or its rate limit).
//
// Spare waiters are served first come, first served, whenever a permit
// comes back. One that finds no room before its deadline (or the
// controller's MaxWait) less a service time is refused (no_spare, with
// Retry-After) and its caller tries it again later. While spare waiters
// wait with the limit at the edge of spare room, latency within
// spareTolerance and no other request in flight, the limit grows as if
// they were queued (learn.go, grow): so a batch running alone still finds
// the upstream's capacity; while other requests run, only their demand
// moves the limit, and the headroom and the latency rule keep spare work
// from taking what they need.

// ReasonNoSpare: a spare-only request found no spare room on the target
// before its deadline.
const ReasonNoSpare = "no_spare"

// spareHeadroom is the share of a target's limit spare-only requests
// leave free for the others' arrivals.
const spareHeadroom = 0.1

// spareTolerance is how far the latency may be above its baseline for
// spare-only requests to take permits.
const spareTolerance = 1.1

type spareKey struct{}

// SpareOnly marks the requests made with the returned context as work
// that runs only on spare capacity (see above).
func SpareOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, spareKey{}, true)
}

// IsSpareOnly reports whether ctx is marked SpareOnly.
func IsSpareOnly(ctx context.Context) bool {
	v, _ := ctx.Value(spareKey{}).(bool)
	return v
}

// spareWaiter is a spare-only request waiting for spare room.
type spareWaiter struct {
	req     Request
	ready   chan struct{} // closed when granted
	granted bool
}

// spareCap is how many permits may be held at most (every class) for a
// spare-only request to take one more.
func (l *Limiter) spareCap() int {
	return l.capOf(Batch) - max(1, int(math.Ceil(l.limit*spareHeadroom)))
}

// spareRoom reports whether a spare-only request r may take a permit now.
func (l *Limiter) spareRoom(r Request, now time.Time) bool {
	if now.Before(l.paused) || l.queued() > 0 || !l.free(r.Class) {
		return false
	}
	// With nothing in flight, one call goes whatever the latency learned
	// last or the headroom say: else no call would teach the limit that
	// congestion passed, nor let it grow from a limit the headroom fills.
	// Latency closes the room only while other requests are in flight:
	// with spare work alone, there is no one it could delay.
	return l.inflight == 0 || (!l.crowded || l.inflight == l.spareHeldN) && l.inflight < l.spareCap()
}

// spareHeld reports whether spare waiters wait with the limit at the edge
// of spare room, with spare work alone in flight: the limit holds them
// back, and raising it would delay no one. While other requests are in
// flight their own demand moves the limit; spare work does not raise it
// into the upstream's queue, where those requests would wait.
func (l *Limiter) spareHeld() bool {
	return !l.crowded && len(l.spare) > 0 && l.inflight == l.spareHeldN && l.inflight+1 >= l.spareCap()
}

// acquireSpare is Acquire for a spare-only request, arriving at now.
func (l *Limiter) acquireSpare(ctx context.Context, r Request, now time.Time) (release func(Result), err error) {
	remaining := l.ctl.options().MaxWait
	if dl, ok := ctx.Deadline(); ok {
		remaining = dl.Sub(now)
	}
	l.mu.Lock()
	if len(l.spare) == 0 && l.spareRoom(r, now) {
		l.grantSpare(r)
		l.mu.Unlock()
		return l.spareReleaser(r, now), nil
	}
	wait := remaining - time.Duration(float64(l.service)*(1+l.cfg.Tolerance)/2)
	if l.service == 0 {
		wait = remaining / 2
	}
	if wait <= 0 {
		e := l.refuse(r, ReasonNoSpare, l.service)
		l.mu.Unlock()
		return nil, e
	}
	w := &spareWaiter{req: r, ready: make(chan struct{})}
	l.spare = append(l.spare, w)
	l.mu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	var end error
	select {
	case <-w.ready:
	case <-ctx.Done():
		end = ctx.Err()
	case <-timer.C:
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.granted {
		if end != nil { // granted as the caller left: give it back
			l.spareHeldN--
			l.put(r, Result{Ignore: true}, now)
			return nil, end
		}
		return l.spareReleaser(r, time.Now()), nil
	}
	for i, x := range l.spare {
		if x == w {
			l.spare = append(l.spare[:i:i], l.spare[i+1:]...)
			break
		}
	}
	if end != nil {
		return nil, end
	}
	return nil, l.refuse(r, ReasonNoSpare, l.service)
}

// grantSpare grants r a permit as spare work.
func (l *Limiter) grantSpare(r Request) {
	l.grant(r)
	l.spareHeldN++
}

// spareReleaser is releaser for a permit granted as spare work: it is no
// longer counted as spare work once it comes back.
func (l *Limiter) spareReleaser(r Request, start time.Time) func(Result) {
	rel := l.releaser(r, start)
	var once sync.Once
	return func(res Result) {
		if !res.Holding {
			once.Do(func() {
				l.mu.Lock()
				l.spareHeldN--
				l.mu.Unlock()
			})
		}
		rel(res)
	}
}

// dispatchSpare grants permits to spare waiters, oldest first, while the
// target has spare room.
func (l *Limiter) dispatchSpare(now time.Time) {
	for len(l.spare) > 0 && l.spareRoom(l.spare[0].req, now) {
		w := l.spare[0]
		l.spare = l.spare[1:]
		l.grantSpare(w.req)
		w.granted = true
		close(w.ready)
	}
}

// judgeSpare closes spare room while the latency learned (ratio to its
// baseline, rise over it in time) says the upstream queues, and on an
// overload answer; it opens it again at the next call within tolerance.
func (l *Limiter) judgeSpare(ratio float64, rise time.Duration, overloaded bool) {
	l.crowded = overloaded || ratio > spareTolerance && rise > l.cfg.Jitter/2
}
