package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
)

// Cooldowns.
//
// A target whose upstream answers rate limited or overloaded with a
// Retry-After is cooled down for that long, at most the alias's
// max_retry_after (cooldownOf), in its route.Health: every request of the
// process sees it. While it cools down:
//
//   - the attempt loop picks it only when no other target within the
//     request's reach (the alias's, the aliases queued after it and their
//     general fallbacks: elsewhere) may be called and is not cooling down
//     too (pick); when every one cools down, targets are picked, called
//     and retried as without cooldowns;
//   - the request whose attempt got the answer fails over at once when
//     another target is within reach, rather than wait out the Retry-After
//     on the same target; without one it waits and retries as before
//     (retryWait);
//   - a request waiting in the target's queue (admit.go, acquire) while
//     another target could take it leaves the queue as the cooldown starts
//     and is picked again (errCooledDown). The wait counts as an attempt
//     of the target, as a refusal by its queue does.
//
// Each cooldown started or extended is counted in
// bulwark_target_cooldowns_total and recorded on the attempt's span
// (bulwark.target.cooldown_ms).

// errCooledDown ends an attempt's wait in its target's queue: the target
// began to cool down, and another target can take the request.
var errCooledDown = errors.New("target began to cool down")

// cooldownOf is how long an attempt's failure e cools its target down on
// route r: the Retry-After of a rate-limited or overloaded answer, at most
// the alias's max_retry_after; zero for any other failure.
func cooldownOf(r *route.Route, e *llm.Error) time.Duration {
	if e == nil || e.RetryAfter <= 0 || (e.Kind != llm.KindRateLimited && e.Kind != llm.KindOverloaded) {
		return 0
	}
	return min(e.RetryAfter, r.Policy.MaxRetryAfter)
}

// cooling reports whether t cools down.
func cooling(t *route.Target) bool { return t.Health.Cooldown.Active() }

// cooledDown is the error of an attempt that left t's queue as t began to
// cool down.
func cooledDown(t *route.Target) *llm.Error {
	left := t.Health.Cooldown.Left()
	return &llm.Error{Kind: llm.KindOverloaded, Status: http.StatusServiceUnavailable, Provider: t.Provider, Model: t.Model,
		Code: "cooldown", RetryAfter: left, Err: errCooledDown,
		Message: fmt.Sprintf("%s is cooling down for %s at its upstream's request", t.Name(), left.Round(time.Millisecond))}
}

// pick chooses the next target of ahead[0], the alias the loop is on, by
// its balance policy among those the loop may call: not excluded, not
// skipped, with room (hasRoom) and a breaker that is not open. A target
// cooling down is passed over while the loop can reach another that is
// not (elsewhere): then, if the alias has none, it returns nil and the
// loop goes on to the fallbacks. When every target within reach cools
// down, the pick is as it would be without cooldowns. nil: the alias has
// no target left.
func (st *loop) pick(rq *request, tbl *route.Table, ahead []*route.Route) *route.Target {
	cur, class := ahead[0], rq.class.String()
	skip := func(t *route.Target) bool { return st.excluded[t.Name()] || st.skip(t) || !rq.hasRoom(t) }
	if t := cur.PickFor(class, rq.g.rnd, func(t *route.Target) bool { return skip(t) || cooling(t) }); t != nil {
		return t
	}
	if st.elsewhere(rq, tbl, ahead, nil) {
		return nil
	}
	return cur.PickFor(class, rq.g.rnd, skip)
}

// elsewhere reports whether the loop can still reach a target other than
// but (nil: any) that rq may call now and that is not cooling down: one
// of the aliases ahead (the one the loop is on and those queued after it)
// or of the general fallbacks they lead to. It only reads the loop's
// state.
func (st *loop) elsewhere(rq *request, tbl *route.Table, ahead []*route.Route, but *route.Target) bool {
	class := rq.class.String()
	routes := slices.Clip(ahead) // appending never writes into the loop's queue
	var seen map[string]bool
	for k := 0; k < len(routes); k++ {
		r := routes[k]
		for _, o := range r.Targets {
			if but != nil && o.Name() == but.Name() {
				continue
			}
			if !cooling(o) && o.Serves(class) && o.Health.Breaker.Ready() && !st.excluded[o.Name()] && !st.skip(o) && rq.hasRoom(o) {
				return true
			}
		}
		for _, a := range r.Fallbacks {
			if st.queued[a] || seen[a] {
				continue
			}
			if fr, ok := tbl.Lookup(a); ok {
				if seen == nil {
					seen = map[string]bool{}
				}
				seen[a] = true
				routes = append(routes, fr)
			}
		}
	}
	return false
}
