// Package limit owns rate, token and concurrency limits: the Limiter
// interface the gateway reserves quota through, the rule every backend
// applies (Decide), the embedded backend (Memory), and Fallback, which keeps
// a replica serving when the shared backend (Redis, in package redis) is
// unreachable.
//
// # Reserve, then commit or cancel
//
// At admission the gateway reserves, in every scope that applies to the
// request (its key, its tenant, optionally its alias), one request, the
// estimated tokens and one concurrency slot — all or nothing, so a refusal
// by the tenant takes nothing from the key. When the response's usage is
// known it commits the actual tokens (the window is corrected up or down)
// and the slot is freed; if the request never reached an upstream or failed
// before anything was billed, it cancels and everything is given back. A
// reservation has an ID; settling it is idempotent, so a retried commit or
// cancel is applied once. A slot whose reservation is never settled (its
// replica crashed) is reclaimed after a lease.
//
// # Algorithm and error bounds
//
// Each limited dimension (requests, tokens) of a scope is a sliding window
// of one minute counted in one-second slots (Granularity): use is recorded
// in the slot it happened in, and a slot counts until it has entirely left
// the window, so the window is the current slot plus the 60 before it
// (WindowSlots). A request is admitted only if, for every scope and
// dimension, the use in that window plus its cost is within the limit.
//
//   - Never over: whatever the spread of requests, across replicas too (the
//     Redis backend evaluates the rule atomically in one script), the
//     reserved use in any interval of one minute is at most the limit. The
//     issue's test — 300 requests to a key limited to 60 a minute across
//     three replicas — admits exactly 60, whether the requests come in one
//     burst or over 59 seconds. (A token bucket would admit 60 plus one per
//     second of spread, and up to twice the limit in a sliding minute.)
//   - Late by at most one slot: use is released between 60 and 61 seconds
//     after it happened, so a client pacing exactly at the limit may be
//     held back up to 1/61 (1.6%) of its rate.
//   - Tokens are reserved from an estimate and corrected at commit: a
//     window can exceed its tokens limit by the underestimate of requests
//     already admitted, and admits nothing more until that use has left it.
//     A request whose estimate alone exceeds a tokens limit is refused as
//     TooLarge, with no RetryAfter.
//   - Concurrency is exact; a refusal carries ConcurrencyRetryAfter.
//
// The cost is O(scopes × WindowSlots) small integer operations per call,
// with no floating point and no per-request records beyond the in-flight
// set; the alternatives were a sliding-window log (exact to the
// microsecond, but one record per request and per token batch) and a token
// bucket/GCRA (cheaper, but bursty at window edges as above).
//
// # Limits travel with the call
//
// A Scope carries its Limits on every call, so the limiter holds no
// configuration and a reload takes effect on the next request. Lowering a
// limit leaves past use counted; raising it admits more at once.
//
// # Invariants
//
//   - Every Limiter, Reservation and Fallback is safe for concurrent use.
//   - Reserve refuses by Decision (Allowed false, nil Reservation, nothing
//     consumed); its error means the limiter failed or the call was invalid
//     (ErrInvalid), never "limited".
//   - Backends share Decide, so the memory and Redis limiters give the same
//     answers and headers; limittest.Run checks both against one suite.
//   - Time is injectable (MemoryOptions.Now, FallbackOptions.Now), so tests
//     never wait for a window.
//
// limit imports only the standard library and resilience (Outage, the
// state of the shared limiter's reachability). It must not import redis, any
// other backend, the gateway or the HTTP layer: backends implement
// Limiter, and only app wires them.
package limit
