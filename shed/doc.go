// Package shed decides which requests Bulwark serves when its upstreams
// cannot serve them all: admission at the process edge (a bound on
// requests in flight and queued) and, per upstream target, an adaptive
// concurrency limit with a bounded, deadline-aware priority queue.
//
// What it owns:
//
//   - Class: the priority classes critical, interactive (the default) and
//     batch, and how a request's class is resolved (Resolve).
//   - Limiter: one per target. Its limit is learned from the latency and
//     the overload answers (429/503) of the calls it admits: the smoothed
//     latency (an EWMA over about ten calls, so the spread of answer
//     lengths does not read as congestion) is compared with its baseline
//     (the best smoothed latency of the last windows of 500 calls, which
//     may rise by 5% a window so lasting congestion does not become the
//     norm). Beyond Tolerance × baseline, or on an overload answer, the
//     limit shrinks by 10% — once per episode: only calls started after
//     the last decrease can decrease it again. In the lower half of the
//     band and while the limit holds calls back, it grows by about one per
//     limit's worth of calls. An upstream Retry-After pauses grants for
//     that long. Requests over the limit wait in a queue; the next one
//     served is that of the tenant holding the fewest permits for its
//     weight (weighted fair sharing by in-flight count), and of its
//     waiters the most important class first, then the oldest; between
//     tenants holding as many, the more important class goes first. This
//     caps a bursting tenant at its share while others wait — whatever
//     class it sends — and lets an idle tenant's share be used by the
//     others. A share of the limit
//     (Config.CriticalReserve) is usable only by critical requests. A
//     request whose estimated wait (its position in the queue × the recent
//     service time ÷ the limit) plus one service time does not fit in its
//     deadline is shed at once, not after waiting; a waiter is granted
//     only while its deadline still leaves room for a call, else refused
//     (queue_wait). When the queue is full, a more important arrival
//     displaces the newest waiter of the least important class, or else
//     the newest waiter of a tenant holding more than the arrival's.
//     Queue positions count the waiters dispatched first by that order.
//   - Controller: the process gate (max in flight, max queued), the
//     limiters by target name (they survive reloads), and a snapshot of
//     limits, queue depths and shed counts for the admin API and metrics.
//   - Error: every refusal, with a Reason, a Scope (tenant: the caller is
//     over its own share, answered 429; system: Bulwark is overloaded,
//     answered 503) and a RetryAfter computed from the queue state. Every
//     *Error matches ErrOverloaded with errors.Is.
//
// Why not failsafe-go's adaptivelimiter: its limiter and prioritizer
// reject by a priority threshold computed from the queue's rejection rate,
// but they neither order waiters by tenant (fair share) nor shed a waiter
// by its own deadline against its position in the queue, nor reserve a
// share of the limit for one class; those three are the point of this
// package, and they all live in the one place the queue is ordered. The
// limit arithmetic itself is a small AIMD-with-latency-gradient rule, kept
// here next to the queue so one mutex guards both.
//
// Invariants: a permit is released exactly once; a Limiter never grants
// more than its limit (critical) or its limit minus the reserve (other
// classes); the queue never holds more than Config.Queue waiters, nor the
// process more than Options.MaxQueued.
//
// shed imports only the standard library: the gateway feeds it and
// records its decisions in telemetry.
package shed
