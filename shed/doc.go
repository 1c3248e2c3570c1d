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
//     the overload answers (429/503) of the calls it admits (learn.go): a
//     whole answer's latency per output token, which does not grow with
//     the answer's length; a stream's time to first content, learned as
//     soon as it comes while the stream goes on holding its permit
//     (Result.Holding); any other call's latency. For each of these kinds
//     the smoothed value (an EWMA over about ten calls, so the spread of
//     answers does not read as congestion) is compared with its baseline
//     (the best smoothed value of the last windows of 500 calls, which
//     may rise by 5% a window so lasting congestion does not become the
//     norm). Beyond Tolerance × baseline and by more than Jitter in time
//     (10ms: a call of a few milliseconds doubles with a busy host's
//     scheduling, not with a queue), or on an overload answer, the limit
//     shrinks by 10% — once per episode: only calls started after the
//     last decrease can decrease it again. In the lower half of the band
//     (or within half the jitter) and while the limit holds calls back, it
//     grows by about one per limit's worth of calls; a stream that goes on
//     holding its permit, which teaches the limit once in its whole
//     length, raises it by one permit (doubling it each round of first
//     contents, as TCP's slow start, so 2,000 streams opened at once to a
//     healthy upstream are not refused). A decrease on latency goes down
//     to where latency would be in the middle of the band (10% to 50%). An upstream Retry-After pauses grants for
//     that long, and so does an upstream's statement that its own rate
//     limit is about used up (Headroom, from the x-ratelimit-* headers,
//     unless Config.IgnoreHeadroom): when it will take no more requests
//     (or tokens) than the calls in flight need, grants stop until enough
//     of it has come back — before the upstream refuses anything.
//     Requests over the limit wait in a queue. Critical waiters are served
//     first; then the waiter of the tenant holding the fewest permits for
//     its weight (weighted fair sharing by in-flight count), and of its
//     waiters the most important class first, then the oldest; between
//     tenants holding as many, the more important class goes first. This
//     caps a bursting tenant's interactive and batch requests at its share
//     while others wait and lets an idle tenant's share be used by the
//     others; critical requests, which only keys trusted with them may
//     send, are served before any share. A share of the limit
//     (Config.CriticalReserve) is usable only by critical requests;
//     critical calls beyond it take the other classes' room once (the
//     others may hold the limit less the larger of the reserve and what
//     critical holds). A request whose estimated wait (the waiters served
//     before it — those of a more important group, its tenant's at least
//     as important, and another tenant's until that tenant holds more than
//     its own — times the recent service time ÷ the limit) plus one
//     service time does not fit in its deadline is shed at once, not after
//     waiting; a waiter is granted only while its deadline still leaves
//     room for a call, else refused (queue_wait). When the queue is full,
//     an arrival displaces the waiter that would be served last — of the
//     tenant holding the most permits for its weight, its least important
//     class, the newest — if that waiter would be served after the
//     arrival: a busier tenant never displaces a quieter one's waiter, and
//     critical waiters are never displaced. Queueing is bounded by time
//     too, not only by count (controlled delay, codel.go): once a
//     tenant's waiters have not run out for an interval (twice the
//     service time, at least 100ms), its waiters that waited past a
//     target (half a service time, at least 5ms) are refused
//     (queue_delay, with Retry-After) rather than served late, so
//     clients that send no deadline do not wait behind a standing
//     queue. The queue stands per tenant, so a quiet tenant's is not
//     refused for a bursting one's; a waiter served before every other
//     as it joined, or whose tenant is within its weighted share, may
//     wait the interval less the target rather than the target;
//     critical waiters, and those that join before a service time is
//     learned, are bound only by their deadline.
//   - Spare-only requests (SpareOnly, spare.go): work nobody waits for
//     (the Batch API's lines) never joins a target's queue; it takes a
//     permit only while nobody waits, the limit keeps a headroom free
//     and, beside other requests, latency is at its baseline, and
//     otherwise waits aside, outside every count the queue is judged by.
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
// more than its limit, nor grants a non-critical request beyond the limit
// less the part of the reserve critical calls do not use; the queue never
// holds more than Config.Queue waiters, nor the process more than
// Options.MaxQueued.
//
// shed imports only the standard library: the gateway feeds it and
// records its decisions in telemetry.
package shed
