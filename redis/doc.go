// Package redis is the scaled-out backend for shared counters: N replicas
// pointed at one Redis enforce one set of limits instead of N. It owns the
// Redis side of limit.Limiter (Limiter) and NewClient, a go-redis client set
// up for the hot path.
//
// Each Reserve, Commit and Cancel is one EVALSHA of a Lua script
// (scripts/reserve.lua, scripts/settle.lua; go-redis loads them with EVAL on
// NOSCRIPT), which evaluates and applies limit.Decide's rule for every scope
// of the request atomically.
//
// Keys, all under a configurable prefix (default "bulwark:"):
//
//	<prefix>limit:<kind>:<id>:r   hash: one-second slot number → requests
//	<prefix>limit:<kind>:<id>:t   hash: slot number → tokens
//	<prefix>limit:<kind>:<id>:c   sorted set: reservation ID scored by lease expiry (µs)
//	<prefix>res:<reservation ID>   marker: settles a reservation, and a retried reserve, once
//	<prefix>reconcile:<ID>         marker: applies a Fallback's reconciliation once
//	<prefix>epoch                  string: a random id set when missing; a different or
//	                               missing one tells a reconciling replica that Redis lost
//	                               its state (restarted empty) since it last looked
//
// Budgets (budget.go) is the Redis side of usage.Budgets: one script per
// Reserve, Commit and Cancel (scripts/budget_*.lua), evaluating
// usage.DecideBudget's rule for every budget of the request atomically. A
// period with no hash yet is seeded from the usage ledger first (once per
// process at a time), so spending survives the loss of Redis's data. Keys:
//
//	<prefix>budget:<kind>:<id>:<period>:<start>          hash: spent, reserved, warned, r:<reservation ID> → cost
//	<prefix>budget:<kind>:<id>:<period>:<start>:leases   sorted set: reservation ID scored by lease expiry (µs)
//	<prefix>budget-res:<reservation ID>                   marker: settles a reservation, and a retried reserve, once
//
// Cache (cache.go) is the Redis side of the gateway's response cache
// (package cache): one string per cached answer, set with its TTL, under
// its own prefix (default "bulwark:cache:", config cache.prefix):
//
//	<prefix><key>   string: the encoded cache.Entry; key is cache.Key's 64 hex digits
//
// Period keys expire a lease and an hour after their period ends; markers
// a lease and an hour after the reservation. A lease that ran out (its
// replica crashed) releases its cost at the next call.
//
// Invariants:
//   - Nothing leaks: every key the scripts write has a TTL (windows: 62s
//     after the last write; in-flight sets: the lease; markers: the lease
//     plus two minutes), and slots that left the window are deleted when
//     read — but for the one epoch key, which must outlive every window
//     to tell a restart apart (and which a volatile-* eviction policy
//     therefore never evicts).
//   - A crashed replica's concurrency slots expire with their lease.
//   - Time is the Redis server's (TIME) unless LimiterOptions.Now is set,
//     so replicas' clock skew does not move windows.
//   - Scripts call TIME before writing, which needs Redis 5 or later
//     (effects replication).
//   - A script touches several scopes' keys, so in Redis Cluster the prefix
//     must carry a hash tag ("{bulwark}:") to keep them in one slot.
//   - Calls are bounded by the caller's context (NewClient enables
//     ContextTimeoutEnabled); limit.Fallback supplies a short timeout and
//     serves locally when Redis does not answer.
//
// This package imports limit (whose interface it implements), go-redis
// and, in tests only, cache/cachetest;
// it must not import the gateway, the HTTP layer or vendor packages. Only
// app imports it.
package redis
