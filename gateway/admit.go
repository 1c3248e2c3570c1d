package gateway

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/shed"
	"github.com/bulwark-ai/bulwark/telemetry"
	"github.com/bulwark-ai/bulwark/tenant"
)

// Admission control (package shed) runs at two points of a request:
//
//   - admit, once per client request, before its quota is reserved: the
//     process gate (server.max_inflight) resolves the request's priority
//     class and refuses at once when the process is full;
//   - acquire, once per attempt, between the breaker and the call: the
//     target's adaptive concurrency limit, which queues the attempt (with
//     the request's deadline) or sheds it, and learns from its result.
//
// A shed attempt is not a health failure of its target: the request fails
// over to the next target without counting against the breaker, and the
// client gets the *shed.Error (429 or 503 with Retry-After) when no
// target could take it.

// admit resolves the request's class and passes the process gate. The
// returned release must be called once when the request is done (for a
// stream, when the stream ends).
func (g *Gateway) admit(rq *request, p tenant.Principal, priority, serviceTier string) (release func(), err error) {
	rq.class = shed.Resolve(p.Priority, priority, serviceTier)
	if g.capacity == nil {
		return func() {}, nil
	}
	release, err = g.capacity.Admit(shed.Request{Class: rq.class, Tenant: p.TenantID})
	if err != nil {
		g.recordAdmission(rq, 0, err)
		return nil, err
	}
	return release, nil
}

// acquire takes target t's permit for one attempt of rq. It returns the
// permit's release, or the refusal as the attempt's error; an attempt the
// time left cannot fit is refused before it queues (tooLate). When others
// reports another target for the request, a wait in t's queue ends as t
// begins to cool down, with the error of cooledDown (cooldown.go).
func (rq *request) acquire(ctx context.Context, t *route.Target, others func(*route.Target) bool) (func(shed.Result), *llm.Error) {
	g := rq.g
	if e := rq.tooLate(ctx, t); e != nil { // deadline.go
		g.recordAdmission(rq, 0, e.Err)
		spanAdmission(ctx, rq, 0, e.Err)
		return nil, e
	}
	if g.capacity == nil {
		return func(shed.Result) {}, nil
	}
	start := time.Now()
	lim := g.capacity.Target(t.Name())
	sr := shed.Request{Class: rq.class, Tenant: rq.tenant}
	var (
		release func(shed.Result)
		err     error
		qctx    = ctx
	)
	if t.Reserved() {
		// A reserved target is used while it has room; when it is full
		// the request goes on to the alias's shared targets at once
		// rather than queue for it (the loop passes over a full one,
		// hasRoom; this is the rare race with another request).
		release, err = lim.TryAcquire(sr)
	} else {
		// The queue wait fits a stream's start deadline too.
		if dl, ok := ctx.Deadline(); !rq.startBy.IsZero() && (!ok || rq.startBy.Before(dl)) {
			var cancel context.CancelFunc
			qctx, cancel = context.WithDeadline(ctx, rq.startBy)
			defer cancel()
		}
		if others != nil && others(t) {
			var cancel context.CancelCauseFunc
			qctx, cancel = context.WithCancelCause(qctx)
			stop := t.Health.Cooldown.Notify(func() { cancel(errCooledDown) })
			defer func() {
				stop()
				cancel(nil)
			}()
		}
		release, err = lim.Acquire(qctx, sr)
	}
	g.recordAdmission(rq, time.Since(start), err)
	spanAdmission(ctx, rq, time.Since(start), err)
	if err == nil {
		return release, nil
	}
	se, ok := shed.IsShed(err)
	if !ok { // ctx ended while queued, or t began to cool down
		if ctx.Err() == nil && errors.Is(context.Cause(qctx), errCooledDown) {
			return nil, cooledDown(t)
		}
		return nil, asLLM(err, t)
	}
	if t.Health.Breaker.State().State == "half-open" {
		// This attempt holds the breaker's probe permit, which only a
		// result returns: the probe goes ahead over the limit rather than
		// leave the breaker waiting for it.
		return func(shed.Result) {}, nil
	}
	e := &llm.Error{Kind: llm.KindOverloaded, Status: http.StatusServiceUnavailable, Provider: t.Provider, Model: t.Model,
		Code: se.Reason, RetryAfter: se.RetryAfter, Message: se.Error(), Err: se}
	if se.Scope == shed.ScopeTenant {
		e.Kind, e.Status = llm.KindRateLimited, http.StatusTooManyRequests
	}
	return nil, e
}

func (g *Gateway) recordAdmission(rq *request, wait time.Duration, err error) {
	rec := telemetry.AdmissionRecord{Class: rq.class.String(), Tenant: rq.tenant, Wait: wait}
	if se, ok := shed.IsShed(err); ok {
		rec.Shed, rec.Reason = true, se.Reason
	} else if err != nil {
		return // the client left while queued: not a decision
	}
	g.metrics.RecordAdmission(rec)
}

// spanAdmission records an admission decision on the request span in ctx
// (bulwark.shed.*, bulwark.queue.wait_ms): admitted or shed, the class,
// the reason of a refusal and the time waited for it. A request with
// several attempts keeps its last decision. A wait the client ended is
// not a decision.
func spanAdmission(ctx context.Context, rq *request, wait time.Duration, err error) {
	if !telemetry.Recording(ctx) {
		return
	}
	a := telemetry.AdmissionInfo{Decision: telemetry.DecisionAdmitted, Class: rq.class.String(), QueueWait: wait}
	if se, ok := shed.IsShed(err); ok {
		a.Decision, a.Reason = telemetry.DecisionShed, se.Reason
	} else if err != nil {
		return
	}
	telemetry.SetAdmission(ctx, a)
}

// spanGateShed records on the request span in ctx that the process gate
// shed the request, when err (the request's error) is that refusal; end
// calls it, admit having no span at hand. A refusal by a target's queue
// reaches the client inside an *llm.Error, recorded by acquire.
func spanGateShed(ctx context.Context, rq *request, err error) {
	var le *llm.Error
	if err == nil || errors.As(err, &le) {
		return
	}
	if _, ok := shed.IsShed(err); ok {
		spanAdmission(ctx, rq, 0, err)
	}
}

// shedAttempt reports whether an attempt's failure is a refusal by
// admission control (not an upstream answer).
// hasRoom reports whether a reserved target t can take rq now; the loop
// passes over one that cannot, so a full reserved target costs no attempt.
func (rq *request) hasRoom(t *route.Target) bool {
	return !t.Reserved() || rq.g.capacity == nil || rq.g.capacity.Target(t.Name()).HasRoom(shed.Request{Class: rq.class, Tenant: rq.tenant})
}

func shedAttempt(e *llm.Error) bool {
	_, ok := shed.IsShed(e)
	return ok
}

// learnFrom is what target t's limiter learns from one attempt a that
// answered v: a whole answer's latency with its output tokens, so the
// limit judges latency per token; a stream's time to first content.
func learnFrom(a Attempt, t *route.Target, v any) shed.Result {
	res := shed.Result{Ignore: true}
	switch {
	case a.Err == nil:
		res = shed.Result{Latency: a.Duration, Tokens: answerOf(v).output}
	case a.Kind == llm.KindRateLimited || a.Kind == llm.KindOverloaded:
		res = shed.Result{Latency: a.Duration, Overloaded: true, RetryAfter: a.Err.RetryAfter}
	case a.Kind == llm.KindTimeout:
		res = shed.Result{Latency: a.Duration, Censored: true}
	}
	res.Headroom = headroomOf(a, t)
	return res
}

// rateLimitReporter is a provider that reports the rate limit its upstream
// stated for a model on its latest answer (llm/openai's Client reads the
// x-ratelimit-* headers, llm/anthropic's the anthropic-ratelimit-* ones;
// llm/sim's Sim reports its own limits).
type rateLimitReporter interface {
	RateLimit(model string) (llm.RateLimit, bool)
}

// headroomOf is what t's upstream stated about its rate limit after
// attempt a — on the failure itself, else on the latest answer — nil when
// it stated nothing.
func headroomOf(a Attempt, t *route.Target) *shed.Headroom {
	var rl llm.RateLimit
	switch rr, ok := t.Client.(rateLimitReporter); {
	case a.Err != nil && a.Err.RateLimit != nil:
		rl = *a.Err.RateLimit
	case ok:
		if rl, ok = rr.RateLimit(t.Model); !ok {
			return nil
		}
	default:
		return nil
	}
	return &shed.Headroom{
		Requests: rl.RemainingRequests, RequestsLimit: rl.LimitRequests, RequestsReset: rl.ResetRequests,
		Tokens: rl.RemainingTokens, TokensLimit: rl.LimitTokens, TokensReset: rl.ResetTokens,
		At: rl.At,
	}
}

// holdUntilClose makes a stream's relay keep its permit until the stream
// ends: the limit learns from res (its first content) now, and the
// permit comes back once, when the relay's attempt context is canceled
// (its end, its stall or its Close).
func holdUntilClose(rl *relay, release func(shed.Result), res shed.Result) {
	held := res
	held.Holding = true
	release(held)
	prev := rl.cancel
	var once sync.Once
	rl.cancel = func() {
		prev()
		once.Do(func() { release(res) })
	}
}
