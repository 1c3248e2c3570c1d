package gateway

import (
	"context"

	"github.com/bulwark-ai/bulwark/route"
)

// hedged makes the first attempt of a hedged request: it calls t and, if no
// answer came within the route's hedge delay (fixed, or t's recent p95),
// a second attempt to another target of the route whose retry budget
// allows it and that is not cooling down (numbered after the primary, tr). The first success wins and the other attempt is canceled;
// when both fail the primary's result is returned. lost holds the other
// attempt, if one was made; a hedge target that failed is excluded.
func hedged[T any](ctx context.Context, g *Gateway, r *route.Route, t *route.Target, tr try, excluded map[string]bool,
	call func(context.Context, *route.Route, *route.Target) (T, error)) (won result[T], lost []Attempt) {
	delay := r.Policy.HedgeDelay
	if r.Policy.HedgeP95 {
		delay = t.Health.Load.P95()
	}
	if delay <= 0 {
		return attempt(ctx, r, t, tr, call), nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type tagged struct {
		res   result[T]
		hedge bool
	}
	results := make(chan tagged, 2)
	go func() { results <- tagged{attempt(ctx, r, t, tr, call), false} }()

	timer := make(chan struct{})
	go func() {
		if sleep(ctx, delay) == nil {
			close(timer)
		}
	}()
	pending := 1
	var primary, second *result[T]
	for pending > 0 {
		select {
		case <-timer:
			timer = nil
			h := r.PickFor(tr.rq.class.String(), g.rnd, func(o *route.Target) bool { return o == t || excluded[o.Name()] || cooling(o) })
			if h == nil || !h.Health.Budget.TryRetry() || !h.Health.Breaker.Allow() {
				continue
			}
			h.Health.Budget.Request()
			pending++
			ht := try{rq: tr.rq, number: tr.number + 1, hedge: true}
			go func() { results <- tagged{attempt(ctx, r, h, ht, call), true} }()
		case tr := <-results:
			pending--
			res := tr.res
			if tr.hedge {
				second = &res
			} else {
				primary = &res
			}
			if res.a.Err == nil {
				cancel()
				for ; pending > 0; pending-- { // wait for the loser: no goroutine outlives the request
					lr := <-results
					lost = append(lost, lr.res.a)
				}
				return res, lost
			}
		}
	}
	if second != nil {
		excluded[second.t.Name()] = true
		lost = append(lost, second.a)
	}
	return *primary, lost
}
