package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/resilience"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/telemetry"
)

// Attempt is one call to one target.
type Attempt struct {
	Alias    string
	Target   string
	Kind     llm.Kind // of the failure; meaningless when Err is nil
	Status   int
	Duration time.Duration
	Hedge    bool
	// Continues: the attempt continues a stream that broke after its
	// first content (continue.go).
	Continues bool
	Err       *llm.Error // nil on success
}

func (a Attempt) String() string {
	if a.Err == nil {
		return fmt.Sprintf("%s ok in %s", a.Target, a.Duration.Round(time.Millisecond))
	}
	s := a.Target + " " + a.Kind.String()
	if a.Status != 0 {
		s += fmt.Sprintf(" %d", a.Status)
	}
	return s + " after " + a.Duration.Round(time.Millisecond).String()
}

// AttemptsError is a request every attempt of which failed. It unwraps to
// the most relevant upstream error — the first one that ended the loop by
// its kind (context length, content filter, bad request, auth), else the
// last — whose message lists every attempt, so the API maps it by that
// error's kind and status.
type AttemptsError struct {
	Alias    string
	Attempts []Attempt
	err      *llm.Error
}

func (e *AttemptsError) Error() string { return e.err.Error() }
func (e *AttemptsError) Unwrap() error { return e.err }

func newAttemptsError(alias string, tried []Attempt, decisive *llm.Error) *AttemptsError {
	parts := make([]string, len(tried))
	for i, a := range tried {
		parts[i] = a.String()
	}
	sum := *decisive
	msg := sum.Message
	if msg == "" && sum.Err != nil {
		msg = sum.Err.Error()
	}
	if msg == "" {
		msg = sum.Kind.String()
	}
	sum.Message = fmt.Sprintf("%s (%d attempts: %s)", msg, len(tried), strings.Join(parts, "; "))
	return &AttemptsError{Alias: alias, Attempts: tried, err: &sum}
}

// asLLM returns err as an *llm.Error naming t.
func asLLM(err error, t *route.Target) *llm.Error {
	var e *llm.Error
	if errors.As(err, &e) {
		return e
	}
	e = &llm.Error{Kind: llm.KindUnknown, Provider: t.Provider, Model: t.Model, Err: err}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		e.Kind = llm.KindTimeout
	case errors.Is(err, context.Canceled):
		e.Kind = llm.KindCanceled
	}
	return e
}

// healthFailure reports whether a failure of this kind says the target is
// unhealthy (and counts against its breaker). Failures caused by the
// request (bad request, context length, content filter) or by the client
// (canceled) do not, and neither does a rate limit: a 429 says "slower",
// which the target's adaptive limit and the retry's Retry-After answer; a
// breaker opened by it would refuse every tenant's and class's requests
// because one of them sent too many (an ingestion at batch priority would
// take the interactive traffic down with it).
func healthFailure(k llm.Kind) bool {
	switch k {
	case llm.KindOverloaded, llm.KindServer, llm.KindTimeout,
		llm.KindConnection, llm.KindStreamBroken, llm.KindUnknown, llm.KindAuth, llm.KindNotFound:
		return true
	}
	return false
}

// record ends a breaker permit with the result of one attempt.
func record(b *resilience.Breaker, err *llm.Error) {
	if err != nil && healthFailure(err.Kind) {
		b.Failure()
		return
	}
	b.Success()
}

// cutByRequest reports whether an attempt that failed with e was ended by
// its request's own deadline (the client's, or the route's total timeout)
// rather than by the target: ctx, the request's context, passed its
// deadline and the target had not answered. Such an attempt says nothing
// about the target; an attempt timeout, which ends only the attempt, does.
func cutByRequest(ctx context.Context, e *llm.Error) bool {
	return e != nil && e.Status == 0 && errors.Is(ctx.Err(), context.DeadlineExceeded)
}

// abandon ends a breaker permit whose call ended without a verdict on the
// target (cutByRequest). A closed breaker records nothing; a half-open
// one, whose probe permit only a result returns, counts it as a failure:
// the probe did not show the target recovered.
func abandon(b *resilience.Breaker) {
	if b.State().State == "half-open" {
		b.Failure()
	}
}

// result is one attempt's answer.
type result[T any] struct {
	val T
	a   Attempt
	t   *route.Target
}

// attempt makes one breaker-admitted call to t, records its health and
// observes it (a client span and the attempt metrics, observe.go). A
// stream's successful attempt is observed until the stream ends: its relay
// takes the observation over.
func attempt[T any](ctx context.Context, r *route.Route, t *route.Target, tr try,
	call func(context.Context, *route.Route, *route.Target) (T, error)) result[T] {
	release, refused := tr.rq.acquire(ctx, t, tr.others) // the target's adaptive limit (admit.go)
	if refused != nil {
		// The breaker permit taken for this attempt goes back: a half-open
		// breaker's probe permit returns only with a result, and a probe
		// whose client left while it queued would otherwise hold it for
		// good. (A probe the queue refuses goes ahead instead: acquire.)
		abandon(t.Health.Breaker)
		return result[T]{t: t, a: Attempt{Alias: r.Alias, Target: t.Name(), Kind: refused.Kind, Status: refused.Status, Hedge: tr.hedge, Err: refused}}
	}
	done := t.Health.Load.Begin()
	ctx, obs := tr.observe(ctx, r, t)
	start := time.Now()
	v, err := call(ctx, r, t)
	res := result[T]{val: v, t: t, a: Attempt{Alias: r.Alias, Target: t.Name(), Duration: time.Since(start), Hedge: tr.hedge}}
	if err != nil {
		e := asLLM(err, t)
		res.a.Err, res.a.Kind, res.a.Status = e, e.Kind, e.Status
	}
	done(res.a.Duration, err == nil)
	if cutByRequest(ctx, res.a.Err) {
		abandon(t.Health.Breaker)
	} else {
		record(t.Health.Breaker, res.a.Err)
	}
	// The cooldown starts before the permit goes back, so that no waiter
	// of t's queue is granted a call t asked not to get (cooldown.go).
	if d := cooldownOf(r, res.a.Err); d > 0 && t.Health.Cooldown.Start(d) {
		tr.rq.g.metrics.RecordCooldown(t.Provider, t.Model, res.a.Kind.String())
		telemetry.SetAttemptCooldown(obs.span, d)
	}
	if rl, ok := any(v).(*relay); ok && err == nil {
		rl.watch = &streamWatch{att: obs, attStart: start}
		holdUntilClose(rl, release, learnFrom(res.a, t, v))
	} else {
		release(learnFrom(res.a, t, v))
		obs.finish(res.a.Duration, answerOf(v), res.a.Err)
	}
	return res
}

// run is the one attempt loop of a client request. It walks the aliases
// (the requested one, then typed or general fallbacks), picking targets by
// the alias's balance policy among those not yet excluded and whose
// breaker admits a call, passing over those that cool down while another
// is within reach (cooldown.go, pick), and for each failure decides from
// its kind:
//
//   - bad request or canceled: stop, the answer cannot change;
//   - context length / content filter: stop trying this alias; go to the
//     typed fallback aliases if any are configured, else stop;
//   - timeout, auth, not found: exclude the target (never retry a silent or
//     misconfigured target) and fail over;
//   - rate limited or overloaded with a Retry-After of at most
//     max_retry_after, while another target that is not cooling down is
//     within reach: fail over at once (the target cools down, cooldown.go);
//   - rate limited, overloaded, server, connection, stream broken, unknown:
//     retry the same target after backoff (or its Retry-After, when that is
//     at most max_retry_after and leaves time for the attempt before the
//     deadline) while it has attempts and retry budget left and the client
//     is not retrying itself; otherwise exclude it and fail over.
//
// When an alias has no target left, its general fallbacks are queued. The
// loop ends on success, when max_attempts is reached, when no alias is
// left, or when ctx ends.
func run[T any](ctx context.Context, rq *request, tbl *route.Table, r *route.Route, out *Outcome, hedge bool,
	call func(context.Context, *route.Route, *route.Target) (T, error)) (T, error) {
	var zero T
	g := rq.g
	start := time.Now()
	defer func() { out.Upstream, out.Attempts = time.Since(start), len(out.Tried) }()

	pol := r.Policy
	// The loop's state lives in rq so that a broken stream's continuation
	// resumes this loop rather than starting another (continue.go).
	st := rq.loopFor(r)
	queue, queued, excluded, tries := st.queue, st.queued, st.excluded, st.tries
	enqueue := func(aliases []string) {
		for _, a := range aliases {
			if fr, ok := tbl.Lookup(a); ok && !queued[a] {
				queued[a] = true
				queue = append(queue, fr)
			}
		}
	}
	var (
		retry    = st.retry // the target to try again, after wait
		wait     = st.wait
		decisive *llm.Error // the error that ended the loop by its kind
		last     = st.last
	)

	for i := st.i; i < len(queue) && len(out.Tried) < pol.MaxAttempts; {
		cur := queue[i]
		t := retry
		if t == nil {
			t = st.pick(rq, tbl, queue[i:])
			if t == nil { // this alias is spent: its fallbacks come next
				enqueue(cur.Fallbacks)
				i++
				continue
			}
		}
		retry = nil
		if wait > 0 {
			if sleep(ctx, wait) != nil {
				break
			}
			wait = 0
		}
		if !t.Health.Breaker.Allow() { // half-open with every probe taken
			excluded[t.Name()] = true
			continue
		}
		if tries[t.Name()] == 0 {
			t.Health.Budget.Request()
		}
		tries[t.Name()]++

		ahead := queue[i:]
		tr := try{rq: rq, number: len(out.Tried) + 1, fallback: fallback(r, cur, t, out.Tried),
			others: func(t *route.Target) bool { return st.elsewhere(rq, tbl, ahead, t) }}
		var res result[T]
		if hedge && len(out.Tried) == 0 {
			var lost []Attempt
			res, lost = hedged(ctx, g, cur, t, tr, excluded, call)
			out.Tried = append(out.Tried, lost...)
		} else {
			res = attempt(ctx, cur, t, tr, call)
		}
		res.a.Continues = st.continuing
		out.Tried = append(out.Tried, res.a)
		if res.a.Err == nil {
			out.Target = res.t
			st.queue, st.i = queue, i
			return res.val, nil
		}
		e := res.a.Err
		last = e
		if shedAttempt(e) { // the target's queue refused: another target may have room
			excluded[t.Name()] = true
			continue
		}
		if errors.Is(e, errCooledDown) { // left t's queue as t began to cool down: pick again
			continue
		}
		if ctx.Err() != nil { // the client left or the request deadline passed
			break
		}

		switch e.Kind {
		case llm.KindBadRequest, llm.KindCanceled:
			decisive = e
		case llm.KindContextLength, llm.KindContentFilter:
			next := cur.Policy.FallbackOnContextLength
			if e.Kind == llm.KindContentFilter {
				next = cur.Policy.FallbackOnContentFilter
			}
			if len(next) == 0 {
				decisive = e
				break
			}
			// Skip the rest of this alias and what was queued after it:
			// only the typed fallbacks can answer this prompt.
			queue = queue[:i+1]
			enqueue(next)
			i++
			continue
		case llm.KindTimeout, llm.KindAuth, llm.KindNotFound:
			excluded[t.Name()] = true
			continue
		default:
			if cooldownOf(cur, e) > 0 && e.RetryAfter <= cur.Policy.MaxRetryAfter && st.elsewhere(rq, tbl, queue[i:], t) {
				continue // t cools down: another target takes the request now
			}
			w, ok := g.retryWait(ctx, rq, cur, t, e, tries[t.Name()])
			if !ok {
				excluded[t.Name()] = true
				continue
			}
			retry, wait = t, w
			continue
		}
		break
	}

	if decisive == nil {
		decisive = last
	}
	if decisive == nil { // nothing was tried: every breaker is open
		decisive = &llm.Error{
			Kind: llm.KindOverloaded, Status: 503, Provider: "bulwark", Model: r.Alias,
			Message: fmt.Sprintf("no target of model %q is available (circuit breakers open)", r.Alias),
		}
		if err := ctx.Err(); err != nil {
			decisive = asLLM(err, &route.Target{Provider: "bulwark", Model: r.Alias})
		}
	}
	return zero, newAttemptsError(r.Alias, out.Tried, decisive)
}

// fallback reports whether an attempt on target t of route cur falls back:
// cur is a fallback alias of the requested route r, or the failed attempt
// before it went to another target.
func fallback(r, cur *route.Route, t *route.Target, tried []Attempt) bool {
	if cur.Alias != r.Alias {
		return true
	}
	return len(tried) > 0 && tried[len(tried)-1].Target != t.Name()
}

// retryWait decides whether t may be tried again after failure e (its
// n-th attempt) and how long to wait first. A request whose client is
// retrying it is not retried (deadline.go), nor one whose wait and the
// attempt after it (attemptNeeds) would pass its deadline.
func (g *Gateway) retryWait(ctx context.Context, rq *request, r *route.Route, t *route.Target, e *llm.Error, n int) (time.Duration, bool) {
	pol := r.Policy
	if n >= pol.PerTarget || rq.clientRetries > 0 {
		return 0, false
	}
	w := resilience.Backoff(pol.BackoffBase, pol.BackoffMax, n, g.jitter)
	if e.RetryAfter > 0 {
		if e.RetryAfter > pol.MaxRetryAfter {
			return 0, false // too long to wait: fail over instead
		}
		w = e.RetryAfter
	}
	if dl, ok := rq.deadline(ctx); ok && time.Until(dl) <= w+attemptNeeds(t) {
		return 0, false
	}
	if !t.Health.Budget.TryRetry() {
		return 0, false
	}
	return w, true
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
