// Package resilience holds the per-target primitives the gateway's attempt
// loop is built from: a circuit breaker (failsafe-go's, plus a consecutive
// failure trigger), a sliding-window retry budget, exponential backoff with
// full jitter, a latency tracker (peak EWMA and a recent p95) for load
// balancing and hedging, and a cooldown: a target whose upstream answered
// rate limited or overloaded with a Retry-After is passed over for that
// long while another target is available. Outage tracks a shared backend
// (Redis) being unreachable and probes it with backoff, for the limit and
// budget fallbacks.
//
// Invariants: every type here is safe for concurrent use; all time comes
// from the time package, so tests drive it with testing/synctest; nothing
// here decides whether an error is retryable — that is the gateway's job,
// from llm.Kind.
//
// The retry budget is our own rather than failsafe-go's budget package:
// failsafe's budget bounds retries in flight relative to executions in
// flight, which says nothing for a low-traffic target; ours bounds retries
// relative to requests over a window, which is what stops retries from
// multiplying an outage.
//
// resilience imports the standard library and failsafe-go only; it must
// not import llm, route, gateway or anything above them.
package resilience
