// Package gameday runs game days: scripted drills against a running
// Bulwark whose models are served by simulated providers (llm/sim), each
// of which injects a fault through the deployment's admin API, drives
// open-loop traffic at an alias, and scores how the deployment held up
// against the thresholds of a file. It is what `bulwark gameday` runs, so
// that the failures the chaos tests drive in process can be rehearsed by
// anyone against their own staging deployment.
//
// The drills (DrillNames), in the order they run:
//
//   - provider-outage: the primary target answers 500 and 503 to every call
//     (PUT /admin/v1/providers/{p}/models/{m}/faults);
//   - rate-limit-storm: the primary answers 429 with a Retry-After;
//   - stalled-streams: the primary's streams stop after a few tokens and
//     never go on: every stream must end with [DONE] or a typed error
//     event, never silently (a truncation is counted and fails the drill);
//   - region-lost: the primary resets half its connections and never
//     answers the rest;
//   - redis-lost: Redis becomes unreachable through the operator's hooks
//     (Hooks; --redis-down and --redis-up). It applies to the scaled shape
//     only: a deployment whose /metrics has no
//     bulwark_dependency_up{dependency="redis"} gets NotApplicable, as does
//     one for which no hooks were given, since nothing in the admin API can
//     take a deployment's Redis away;
//   - traffic-spike: five times the alias's capacity, mostly batch: the
//     higher classes (X-Bulwark-Priority) must be served, the lower shed
//     first;
//   - limits: a key's requests_per_minute admits exactly its limit, and a
//     hard budget stops spending at its amount.
//
// A fault drill has three phases: traffic before the fault, during it and
// after it is cleared. Traffic is open loop: the i-th request of a phase is
// due at its start + i/rate whatever happened to the earlier ones, and its
// latency runs from when it was due. The scorecard of a drill (Result) has
// the requests served, the errors by kind (the OpenAI error's type/code, a
// stream's error event, "truncated", "connection"), p50 and p99 of the
// requests served, the sheds by class, the share served of each class, the
// time to recover (RecoveryTime: from clearing the fault to the first
// window of recovery.window whose share served is recovered_at or more),
// what the deployment's own counters moved by (fallbacks, retries, sheds)
// and each pass criterion with what the drill got.
//
// Invariants:
//   - A drill puts back what it changed, also when it fails or the game
//     day is interrupted: the faults a target had before the drill (read
//     first, then restored), and the keys it created (revoked). The drills'
//     tenant (deployment.tenant) is created when missing and left in place.
//   - The traffic goes through a key of its own in that tenant, so that the
//     drills' usage is told apart from everyone else's.
//   - At most maxInFlight requests are in flight; a request due beyond that
//     is not sent and counts as "dropped".
//
// It talks to the deployment over HTTP only: it imports config (for the
// wire form of faults and durations) and nothing else of Bulwark's, and
// must not import app, gateway or any backend.
package gameday
