package shed

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"
)

// Config is one target's limiter configuration. Zero fields take the
// defaults below.
type Config struct {
	// Initial, Min and Max bound the learned concurrency limit
	// (defaults 16, 1, 4096).
	Initial, Min, Max int
	// Queue is how many requests may wait for the target (default 64).
	Queue int
	// CriticalReserve is the share of the limit only critical requests may
	// use (default 0.2; negative means none).
	CriticalReserve float64
	// Tolerance is how far latency may grow over the best recent latency
	// before the limit shrinks (default 1.5).
	Tolerance float64
	// Jitter is the rise in latency over the best recent latency that is
	// never taken for congestion, however large a share of it it is
	// (default 10ms; negative means none): a call of a few milliseconds
	// doubles with the scheduling of a busy host, not with a queue.
	Jitter time.Duration
	// QueueTarget and QueueInterval bound queueing by time (controlled
	// delay, codel.go): once a tenant's waiters have not run out for
	// QueueInterval, its waiter that has waited QueueTarget (QueueInterval
	// for one in line) is refused (queue_delay). Defaults: half the recent service time, at least 5ms; twice the
	// recent service time, at least 100ms.
	QueueTarget, QueueInterval time.Duration
	// IgnoreHeadroom makes the limiter disregard what the upstream says
	// about its own rate limit (Result.Headroom): it then slows down only
	// once the upstream refuses.
	IgnoreHeadroom bool
}

func (c Config) withDefaults() Config {
	if c.Initial <= 0 {
		c.Initial = 16
	}
	if c.Min <= 0 {
		c.Min = 1
	}
	if c.Max <= 0 {
		c.Max = 4096
	}
	c.Max = max(c.Max, c.Min)
	c.Initial = min(max(c.Initial, c.Min), c.Max)
	if c.Queue <= 0 {
		c.Queue = 64
	}
	switch {
	case c.CriticalReserve == 0:
		c.CriticalReserve = 0.2
	case c.CriticalReserve < 0:
		c.CriticalReserve = 0
	}
	c.CriticalReserve = min(c.CriticalReserve, 0.9)
	if c.Tolerance <= 1 {
		c.Tolerance = 1.5
	}
	switch {
	case c.Jitter == 0:
		c.Jitter = 10 * time.Millisecond
	case c.Jitter < 0:
		c.Jitter = 0
	}
	c.QueueTarget, c.QueueInterval = max(c.QueueTarget, 0), max(c.QueueInterval, 0)
	return c
}

// Request is what a Limiter needs to know about a request.
type Request struct {
	Class  Class
	Tenant string
}

// Result is how an admitted call ended, for the limit to learn from.
type Result struct {
	// Latency of the call (for a stream, until its first content).
	Latency time.Duration
	// Tokens is how many tokens the answer produced when Latency covers
	// producing them (a whole answer), zero when it does not (a stream's
	// first content, an embedding): the limit then judges the latency per
	// token, which does not grow with the answer's length.
	Tokens int
	// Holding is set when the call goes on holding its permit (a stream
	// past its first content): the limit learns from this result at once
	// and the permit comes back at the next call of release, whose
	// latency is not learned again.
	Holding bool
	// Overloaded is set when the upstream refused for capacity (429, 503).
	Overloaded bool
	// RetryAfter is the pause the upstream asked for, if any.
	RetryAfter time.Duration
	// Censored is set when the call was cut short (its deadline passed):
	// its latency is a lower bound, which only counts when it already
	// exceeds the tolerance.
	Censored bool
	// Ignore is set when the call says nothing about the target's
	// capacity (the client canceled, the request was bad).
	Ignore bool
	// Headroom is what the upstream said about its own rate limit on this
	// answer (its x-ratelimit-* headers), nil when it said nothing. It is
	// heeded even when Ignore is set.
	Headroom *Headroom
}

// Headroom is an upstream's statement of its rate limit after a call: how
// many requests and tokens it will still take, out of how many, and when
// the limit is back to its initial state. A negative count was not stated.
// At is when the upstream said it (zero: just now): the limiter heeds it
// when the call's permit comes back, which for a stream may be minutes
// later, and the resets count from At.
type Headroom struct {
	Requests, RequestsLimit int
	RequestsReset           time.Duration
	Tokens, TokensLimit     int
	TokensReset             time.Duration
	At                      time.Time
}

// pauseFor is how long a limiter with inflight calls out should stop
// granting, by what h says: zero while the upstream will take the calls
// in flight and one more. When it will not, the pause lasts until enough
// of the limit has come back for them — the reset time scaled by the
// share of the used limit they need (the limit refills over the reset
// time), or the whole reset time when the limit is not stated — less
// the time since the statement (At), so that an old statement pauses
// only for what is left of it.
func (h *Headroom) pauseFor(inflight int, now time.Time) time.Duration {
	var pause time.Duration
	if h.Requests >= 0 && h.Requests <= inflight {
		pause = refill(inflight+1-h.Requests, h.Requests, h.RequestsLimit, h.RequestsReset)
	}
	if h.Tokens >= 0 {
		// A call's tokens, from what the calls so far have used; without
		// that, only an exhausted token limit pauses.
		need := 1
		if used := h.RequestsLimit - h.Requests; h.TokensLimit > 0 && h.RequestsLimit > 0 && h.Requests >= 0 && used > 0 {
			need = max((h.TokensLimit-h.Tokens)/used, 1) * (inflight + 1)
		}
		if h.Tokens < need {
			pause = max(pause, refill(need-h.Tokens, h.Tokens, h.TokensLimit, h.TokensReset))
		}
	}
	if !h.At.IsZero() {
		pause -= now.Sub(h.At)
	}
	return max(pause, 0)
}

// refill is how long until need more of a limit of limit (remaining
// left, fully back after reset) are available.
func refill(need, remaining, limit int, reset time.Duration) time.Duration {
	if reset <= 0 {
		return 0
	}
	if used := limit - remaining; limit > 0 && used > 0 && need < used {
		return time.Duration(float64(reset) * float64(need) / float64(used))
	}
	return reset
}

// Limiter is one target's adaptive concurrency limit and queue. It is
// safe for concurrent use.
type Limiter struct {
	name string
	ctl  *Controller

	mu       sync.Mutex
	cfg      Config
	limit    float64
	inflight int
	critical int // permits held by critical requests
	waiting  [numClasses][]*waiter
	tenants  map[string]*tenantLoad
	paused   time.Time // no grants before it
	wake     *time.Timer
	spare    []*spareWaiter // spare-only requests waiting (spare.go)
	crowded  bool           // latency closes spare room (spare.go)
	// spareHeldN is the permits held by spare-only requests (spare.go).
	spareHeldN int

	// Latency learning: an EWMA of service time, and what the limit
	// judges congestion by, per kind of sample (learn).
	service      time.Duration
	sig          [numSignals]signal
	lastDecrease time.Time

	admitted [numClasses]int64
	shed     [numClasses]map[string]int64 // by reason
	shedBy   map[string]int64             // by tenant
}

type tenantLoad struct {
	inflight, waiting int
	// busySince is when its waiters last became non-empty (codel.go).
	busySince time.Time
}

type waiter struct {
	req Request
	// deadline is the last moment the call can start and still end in
	// time (the request's deadline less the slowest service time the
	// limit tolerates).
	deadline time.Time
	since    time.Time // when it joined the queue
	// patience is how long it may wait while its tenant's queue stands,
	// fixed as it joins (codel.go); zero: no bound but the deadline.
	patience time.Duration
	ready    chan struct{} // closed when granted or refused
	granted  bool
	err      *Error
}

func newLimiter(name string, c Config, ctl *Controller) *Limiter {
	c = c.withDefaults()
	l := &Limiter{name: name, ctl: ctl, cfg: c, limit: float64(c.Initial), tenants: map[string]*tenantLoad{}, shedBy: map[string]int64{}}
	for i := range l.shed {
		l.shed[i] = map[string]int64{}
	}
	return l
}

// configure applies a new configuration, keeping the learned limit within
// its new bounds.
func (l *Limiter) configure(c Config) {
	c = c.withDefaults()
	l.mu.Lock()
	defer l.mu.Unlock()
	if c == l.cfg {
		return
	}
	l.cfg = c
	l.limit = min(max(l.limit, float64(c.Min)), float64(c.Max))
	l.dispatch(time.Now())
}

// capOf is how many permits requests of class c may hold at once.
func (l *Limiter) capOf(c Class) int {
	n := int(l.limit)
	if c == Critical {
		return max(n, 1)
	}
	return max(int(math.Floor(l.limit*(1-l.cfg.CriticalReserve))), 1)
}

// free reports whether the limit has room for a request of class c:
// critical ones may use the whole limit; the others may not use the part
// of the reserve that critical calls are not using. Critical calls beyond
// the reserve take the others' room, not twice the reserve.
func (l *Limiter) free(c Class) bool {
	n := l.capOf(Critical)
	if c == Critical {
		return l.inflight < n
	}
	reserve := n - l.capOf(c)
	return l.inflight-l.critical+max(l.critical, reserve) < n
}

func (l *Limiter) tenant(t string) *tenantLoad {
	tl, ok := l.tenants[t]
	if !ok {
		tl = &tenantLoad{}
		l.tenants[t] = tl
	}
	return tl
}

func (l *Limiter) forget(t string) {
	if tl := l.tenants[t]; tl != nil && tl.inflight == 0 && tl.waiting == 0 {
		delete(l.tenants, t)
	}
}

func (l *Limiter) queued() int {
	n := 0
	for _, q := range l.waiting {
		n += len(q)
	}
	return n
}

// Acquire waits for a permit to call the target. It returns at once with
// an *Error when the request cannot be served before ctx's deadline (or
// the controller's MaxWait, when ctx has none), and with ctx's error when
// ctx ends while it waits. release must be called exactly once with the
// call's result.
func (l *Limiter) Acquire(ctx context.Context, r Request) (release func(Result), err error) {
	now := time.Now()
	if l.ctl.options().Disabled {
		return func(Result) {}, nil
	}
	if IsSpareOnly(ctx) {
		return l.acquireSpare(ctx, r, now)
	}
	remaining := l.ctl.options().MaxWait
	if dl, ok := ctx.Deadline(); ok {
		remaining = dl.Sub(now)
	}
	l.mu.Lock()
	if l.canGrant(r, now) {
		l.grant(r)
		l.mu.Unlock()
		return l.releaser(r, now), nil
	}
	// Over the limit: wait if the estimated wait fits the deadline. A
	// waiter may wait until its deadline leaves room for a call (wait);
	// one that would be refused then is refused now, before it takes a
	// place in the queue (or another waiter's).
	est := l.estimate(r, now)
	wait := remaining - time.Duration(float64(l.service)*(1+l.cfg.Tolerance)/2)
	if l.service == 0 { // nothing learned yet: keep half the time for the call
		wait = remaining / 2
	}
	if est+l.service > remaining || wait <= est {
		e := l.refuse(r, ReasonDeadline, est)
		l.mu.Unlock()
		return nil, e
	}
	if full := l.queued() >= l.cfg.Queue; full || !l.ctl.enqueue() {
		reason := ReasonMaxQueued
		if full {
			reason = ReasonQueueFull
		}
		// A more important request takes the place of a less important
		// waiter. When this queue is full the process-wide place is taken
		// first, so that no waiter is displaced for an arrival that then
		// finds the process full; when the process is full, the displaced
		// waiter's place becomes this one's.
		slot := full && l.ctl.enqueue()
		if !l.displace(r) {
			if slot {
				l.ctl.dequeue()
			}
			e := l.refuse(r, reason, est)
			l.mu.Unlock()
			return nil, e
		}
		if !slot && !l.ctl.enqueue() {
			e := l.refuse(r, reason, est)
			l.mu.Unlock()
			return nil, e
		}
	}
	w := &waiter{req: r, ready: make(chan struct{}), deadline: now.Add(wait), since: now, patience: l.patience(r)}
	l.waiting[r.Class] = append(l.waiting[r.Class], w)
	tl := l.tenant(r.Tenant)
	if tl.waiting++; tl.waiting == 1 {
		tl.busySince = now
	}
	check := l.recheck(w, now)
	l.mu.Unlock()

	// Wait until granted or refused, the caller leaves, the deadline
	// passes or the waiter is past its patience while its tenant's queue
	// stands (codel.go); in between, wake up to check the last.
	timer := time.NewTimer(check.Sub(now))
	defer timer.Stop()
	var end error
	at := now
	for {
		select {
		case <-w.ready:
		case <-ctx.Done():
			end = ctx.Err()
		case <-timer.C:
		}
		l.mu.Lock()
		at = time.Now()
		if w.settled() || end != nil || !at.Before(w.deadline) || l.overdue(w, at) {
			break
		}
		timer.Reset(l.recheck(w, at).Sub(at))
		l.mu.Unlock()
	}
	defer l.mu.Unlock()
	select {
	case <-w.ready:
		if w.err != nil {
			return nil, w.err
		}
		if end != nil { // granted as the caller left: give it back
			l.put(r, Result{Ignore: true}, now)
			return nil, end
		}
		return l.releaser(r, now), nil
	default:
	}
	l.unqueue(w)
	if end != nil {
		return nil, end
	}
	reason := ReasonQueueWait
	if at.Before(w.deadline) {
		reason = ReasonQueueDelay
	}
	return nil, l.refuse(r, reason, l.estimate(r, at))
}

// TryAcquire grants a permit to call the target if the limit has room for
// r now, without waiting: a target reserved for r's class is used while it
// has room, and the request moves on to a shared target when it is full
// rather than queue for it. Without room it returns a refusal
// (ReasonReservedFull). A granted permit is released as Acquire's.
func (l *Limiter) TryAcquire(r Request) (release func(Result), err error) {
	now := time.Now()
	if l.ctl.options().Disabled {
		return func(Result) {}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.canGrant(r, now) {
		return nil, l.refuse(r, ReasonReservedFull, l.estimate(r, now))
	}
	l.grant(r)
	return l.releaser(r, now), nil
}

// HasRoom reports whether TryAcquire would grant r now, without granting
// or counting anything: the attempt loop passes over a full reserved
// target rather than spend an attempt on it.
func (l *Limiter) HasRoom(r Request) bool {
	if l.ctl.options().Disabled {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.canGrant(r, time.Now())
}

// canGrant reports whether r may take a permit now without overtaking a
// waiter dispatched before it.
func (l *Limiter) canGrant(r Request, now time.Time) bool {
	if now.Before(l.paused) || !l.free(r.Class) {
		return false
	}
	mine := l.load(r.Tenant)
	for _, k := range Classes {
		for _, w := range l.waiting[k] {
			if l.ahead(w, r, mine) {
				return false
			}
		}
	}
	return true
}

// ahead reports whether waiter w is dispatched before a request r whose
// tenant holds mine permits for its weight: critical waiters go before
// every other class; within the critical class and among the others, the
// tenant holding fewer permits for its weight goes first, and between
// tenants holding as many, the more important class (then the older).
func (l *Limiter) ahead(w *waiter, r Request, mine float64) bool {
	wc := w.req.Class == Critical
	if rc := r.Class == Critical; wc != rc {
		return wc
	}
	ld := l.load(w.req.Tenant)
	return ld < mine || ld == mine && !r.Class.before(w.req.Class)
}

func (l *Limiter) grant(r Request) {
	l.inflight++
	if r.Class == Critical {
		l.critical++
	}
	l.tenant(r.Tenant).inflight++
	l.admitted[r.Class]++
}

// estimate is how long a request r arriving now would wait: the waiters
// dispatched before it, plus itself, drained at the class's permits per
// service time; plus any pause still to run. The waiters before it are
// those of a more important group (critical before the others), its own
// tenant's at least as important, and of every other tenant as many as
// it is granted before its load for its weight passes that of r's tenant
// once r's tenant's own waiters are served: fair sharing serves a
// tenant's waiters only while it holds no more than the others.
func (l *Limiter) estimate(r Request, now time.Time) time.Duration {
	crit := r.Class == Critical
	ahead, own := 0, 0
	others := map[string]int{}
	for _, k := range Classes {
		for _, w := range l.waiting[k] {
			switch wc := k == Critical; {
			case wc && !crit:
				ahead++
			case wc != crit:
			case w.req.Tenant == r.Tenant:
				if !r.Class.before(k) {
					own++
				}
			default:
				others[w.req.Tenant]++
			}
		}
	}
	ahead += own
	mine := l.load(r.Tenant) + float64(own)/l.ctl.weight(r.Tenant)
	for t, n := range others {
		if lt := l.load(t); lt <= mine {
			ahead += min(n, int((mine-lt)*l.ctl.weight(t))+1)
		}
	}
	w := time.Duration(float64(ahead+1) * float64(l.service) / float64(l.capOf(r.Class)))
	if now.Before(l.paused) {
		w += l.paused.Sub(now)
	}
	return w
}

// load is the permits tenant t holds for its weight.
func (l *Limiter) load(t string) float64 {
	n := 0
	if tl := l.tenants[t]; tl != nil {
		n = tl.inflight
	}
	return float64(n) / l.ctl.weight(t)
}

// refuse counts and returns the refusal of r.
func (l *Limiter) refuse(r Request, reason string, retry time.Duration) *Error {
	l.shed[r.Class][reason]++
	l.shedBy[r.Tenant]++
	return &Error{Reason: reason, Scope: l.scopeOf(r.Tenant), RetryAfter: max(retry, l.service, time.Second), Class: r.Class, Tenant: r.Tenant, Target: l.name}
}

// scopeOf says whether tenant t is over its weighted share of the limit
// while another tenant competes for it.
func (l *Limiter) scopeOf(t string) Scope {
	var sum float64
	others := false
	for name, tl := range l.tenants {
		if tl.inflight+tl.waiting > 0 || name == t {
			sum += l.ctl.weight(name)
			others = others || name != t
		}
	}
	if _, ok := l.tenants[t]; !ok {
		sum += l.ctl.weight(t)
	}
	tl := l.tenants[t]
	if !others || tl == nil {
		return ScopeSystem
	}
	share := l.limit * l.ctl.weight(t) / sum
	if float64(tl.inflight+tl.waiting) > share {
		return ScopeTenant
	}
	return ScopeSystem
}

// displace makes room in the queue for r by refusing the waiter that
// would be dispatched last, if that waiter would be dispatched after r:
// a waiter of the tenant holding the most permits for its weight, of its
// least important class, the newest. A critical arrival may displace any
// other class; critical waiters are never displaced. So a bursting tenant
// gives way to a quiet one, and within a tenant batch gives way first.
// It reports whether it did.
func (l *Limiter) displace(r Request) bool {
	mine := l.load(r.Tenant)
	var victim *waiter
	victimLoad := math.Inf(-1)
	for i := len(Classes) - 1; i >= 0; i-- {
		k := Classes[i]
		if k == Critical {
			break
		}
		q := l.waiting[k]
		for j := len(q) - 1; j >= 0; j-- {
			w := q[j]
			if l.ahead(w, r, mine) {
				continue
			}
			if ld := l.load(w.req.Tenant); ld > victimLoad {
				victim, victimLoad = w, ld
			}
		}
	}
	if victim == nil {
		return false
	}
	l.unqueue(victim)
	victim.err = l.refuse(victim.req, ReasonDisplaced, l.estimate(victim.req, time.Now()))
	close(victim.ready)
	return true
}

// unqueue removes w from its queue.
func (l *Limiter) unqueue(w *waiter) {
	q := l.waiting[w.req.Class]
	for i, x := range q {
		if x == w {
			l.waiting[w.req.Class] = append(q[:i:i], q[i+1:]...)
			l.ctl.dequeue()
			l.tenant(w.req.Tenant).waiting--
			l.forget(w.req.Tenant)
			return
		}
	}
}

// dispatch grants permits to waiters while the limit allows, in the
// order ahead defines: critical waiters first; then the waiter of the
// tenant holding the fewest permits for its weight (weighted fair
// sharing), and of that tenant's waiters the most important and then the
// oldest; between tenants holding as many, the more important class goes
// first. A class the limit has no room for (the reserve) is passed over.
func (l *Limiter) dispatch(now time.Time) {
	defer l.dispatchSpare(now) // what the queue leaves (spare.go)
	if now.Before(l.paused) {
		return
	}
	for {
		var best *waiter
		for _, c := range Classes {
			if len(l.waiting[c]) == 0 || !l.free(c) {
				continue
			}
			bestLoad := math.Inf(1)
			if best != nil {
				bestLoad = l.load(best.req.Tenant)
			}
			for _, w := range l.waiting[c] {
				if ld := l.load(w.req.Tenant); ld < bestLoad {
					best, bestLoad = w, ld
				}
			}
			if best != nil && c == Critical {
				break // critical waiters go before every other class
			}
		}
		if best == nil {
			return
		}
		overdue := l.overdue(best, now)
		l.unqueue(best)
		if now.After(best.deadline) || overdue { // too late to be served in time, or a standing queue's
			reason := ReasonQueueWait
			if overdue {
				reason = ReasonQueueDelay
			}
			best.err = l.refuse(best.req, reason, l.estimate(best.req, now))
			close(best.ready)
			continue
		}
		l.grant(best.req)
		best.granted = true
		close(best.ready)
	}
}

// releaser returns the release function of a permit granted to r. A
// result with Holding set teaches the limit at once and keeps the permit;
// the next call without it returns the permit.
func (l *Limiter) releaser(r Request, start time.Time) func(Result) {
	var once sync.Once
	learned, done := false, false // guarded by l.mu
	return func(res Result) {
		if res.Holding {
			l.mu.Lock()
			defer l.mu.Unlock()
			if !learned && !done && !res.Ignore {
				learned = true
				now := time.Now()
				l.learn(res, start, now)
				l.dispatch(now)
			}
			return
		}
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			done = true
			if learned { // its latency was learned while it held the permit
				res.Ignore, res.Latency, res.Overloaded, res.RetryAfter = true, 0, false, 0
			}
			l.put(r, res, start)
		})
	}
}

// put returns a permit and learns from its result.
func (l *Limiter) put(r Request, res Result, start time.Time) {
	now := time.Now()
	l.inflight--
	if r.Class == Critical {
		l.critical--
	}
	l.tenant(r.Tenant).inflight--
	l.forget(r.Tenant)
	if res.Headroom != nil && !l.cfg.IgnoreHeadroom {
		l.pause(now, res.Headroom.pauseFor(l.inflight, now))
	}
	if !res.Ignore {
		l.learn(res, start, now)
	}
	l.dispatch(now)
}

// pause stops grants for d from now, unless a longer pause runs.
func (l *Limiter) pause(now time.Time, d time.Duration) {
	if d <= 0 {
		return
	}
	if until := now.Add(d); until.After(l.paused) {
		l.paused = until
		if l.wake != nil {
			l.wake.Stop()
		}
		l.wake = time.AfterFunc(d, func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.dispatch(time.Now())
		})
	}
}

// State is a snapshot of a Limiter.
type State struct {
	Target   string         `json:"target"`
	Limit    float64        `json:"limit"`
	Inflight int            `json:"inflight"`
	Queued   map[string]int `json:"queued"`
	// Service is the recent service time; PausedFor the pause left.
	Service   string                      `json:"service_time"`
	PausedFor string                      `json:"paused_for,omitempty"`
	Admitted  map[string]int64            `json:"admitted"`
	Shed      map[string]map[string]int64 `json:"shed"` // by class, then reason
	ShedBy    map[string]int64            `json:"shed_by_tenant"`
}

// State returns a snapshot of the limiter.
func (l *Limiter) State() State {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := State{Target: l.name, Limit: math.Round(l.limit*100) / 100, Inflight: l.inflight, Queued: map[string]int{},
		Service: l.service.Round(time.Millisecond).String(), Admitted: map[string]int64{}, Shed: map[string]map[string]int64{}, ShedBy: map[string]int64{}}
	if now := time.Now(); now.Before(l.paused) {
		s.PausedFor = l.paused.Sub(now).Round(time.Millisecond).String()
	}
	for _, c := range Classes {
		s.Queued[c.String()] = len(l.waiting[c])
		s.Admitted[c.String()] = l.admitted[c]
		m := map[string]int64{}
		for k, v := range l.shed[c] {
			m[k] = v
		}
		s.Shed[c.String()] = m
	}
	for k, v := range l.shedBy {
		s.ShedBy[k] = v
	}
	return s
}

// IsShed reports whether err is (or wraps) a refusal, and returns it.
func IsShed(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
