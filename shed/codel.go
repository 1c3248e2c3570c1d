package shed

import "time"

// Controlled delay. A queue that absorbs a burst drains again; a queue
// that stands — arrivals beyond what the target serves, for longer than
// an interval — only adds its wait to every answer without adding a
// single answer more. So once a tenant's waiters have not run out for
// the interval (Config.QueueInterval), a waiter of that tenant that has
// waited the target (Config.QueueTarget) is refused (queue_delay, 429 or
// 503 with Retry-After) rather than served late: when the limit frees a
// permit, and whenever its own wait reaches the target. The queue stands
// per tenant, as in FQ-CoDel: a quiet tenant whose few waiters are served
// in turn is not refused because a bursting one keeps the queue full.
//
// How long a waiter may wait (its patience) is fixed as it joins: the
// target; the interval less the target for a waiter in line (inLine) — one served before
// every other waiter, or whose tenant, with it, holds and awaits no more
// than its weighted share of the limit, or than any other tenant that
// competes, for their weights —
// since it waits for permits to come back, not behind a queue (less the
// target, so that its wait and its call stay within about three service
// times); and no
// bound but its deadline for a critical waiter (critical requests go
// before every share, and their deadline or MaxWait and the queue's bound
// still hold them) and for any waiter that joins before a service time is
// learned (or a target configured). The waiters that wait longest are
// those dispatched last — the bursting tenant's, batch — so shedding them
// keeps the order of dispatch. A queue that empties within every interval
// sheds nothing, however long a waiter waited. As in CoDel (Nichols and
// Jacobson) and the RPC servers that adopted it.

// minQueueTarget and minQueueInterval bound the defaults from below.
const (
	minQueueTarget   = 5 * time.Millisecond
	minQueueInterval = 100 * time.Millisecond
)

// queueTarget is how long a waiter may wait while its queue stands.
func (l *Limiter) queueTarget() time.Duration {
	if l.cfg.QueueTarget > 0 {
		return l.cfg.QueueTarget
	}
	return max(l.service/2, minQueueTarget)
}

// queueInterval is how long a tenant's waiters must not run out for its
// queue to stand.
func (l *Limiter) queueInterval() time.Duration {
	if l.cfg.QueueInterval > 0 {
		return l.cfg.QueueInterval
	}
	return max(2*l.service, minQueueInterval)
}

// patience is how long a waiter for r, joining now, may wait while its
// tenant's queue stands; zero is no bound.
func (l *Limiter) patience(r Request) time.Duration {
	switch {
	case r.Class == Critical || l.service == 0 && l.cfg.QueueTarget == 0:
		return 0
	case l.inLine(r):
		return l.queueInterval() - l.queueTarget()
	}
	return l.queueTarget()
}

// inLine reports whether r, arriving now, would be served before every
// waiter, or its tenant holds and awaits (r included), for its weight, no
// more than its share of the limit or than every other tenant that holds
// or awaits permits.
func (l *Limiter) inLine(r Request) bool {
	mine := 1.0
	if tl := l.tenants[r.Tenant]; tl != nil {
		mine += float64(tl.inflight + tl.waiting)
	}
	mine /= l.ctl.weight(r.Tenant)
	sum, others, least := l.ctl.weight(r.Tenant), false, true
	for name, tl := range l.tenants {
		if n := tl.inflight + tl.waiting; name != r.Tenant && n > 0 {
			sum += l.ctl.weight(name)
			others = true
			least = least && mine <= float64(n)/l.ctl.weight(name)
		}
	}
	if others && (least || mine <= l.limit/sum) {
		return true
	}
	load := l.load(r.Tenant)
	for _, k := range Classes {
		for _, w := range l.waiting[k] {
			if l.ahead(w, r, load) {
				return false
			}
		}
	}
	return true
}

// overdue reports whether waiter w is to be refused for controlled delay
// at now: its tenant's queue has stood for an interval and w waited its
// patience, neither counting a pause of grants (an upstream's
// Retry-After).
func (l *Limiter) overdue(w *waiter, now time.Time) bool {
	if w.patience == 0 {
		return false
	}
	tl := l.tenants[w.req.Tenant]
	return tl != nil && tl.waiting > 0 && now.Sub(later(tl.busySince, l.paused)) >= l.queueInterval() &&
		now.Sub(later(w.since, l.paused)) >= w.patience
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// recheck is when waiter w, queued, should next check whether it is
// overdue (or at its deadline).
func (l *Limiter) recheck(w *waiter, now time.Time) time.Time {
	if w.patience == 0 {
		return w.deadline
	}
	t := later(w.since, l.paused).Add(w.patience)
	if tl := l.tenants[w.req.Tenant]; tl != nil {
		t = later(t, later(tl.busySince, l.paused).Add(l.queueInterval()))
	}
	if !t.After(now) { // not overdue at t: the interval changed, or a pause
		t = now.Add(l.queueInterval())
	}
	if w.deadline.Before(t) {
		t = w.deadline
	}
	return t
}

// settled reports whether w was granted or refused.
func (w *waiter) settled() bool {
	select {
	case <-w.ready:
		return true
	default:
		return false
	}
}
