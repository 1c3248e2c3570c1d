package gateway

import (
	"context"
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
// permit's release, or the refusal as the attempt's error.
func (rq *request) acquire(ctx context.Context, t *route.Target) (func(shed.Result), *llm.Error) {
	g := rq.g
	if g.capacity == nil {
		return func(shed.Result) {}, nil
	}
	start := time.Now()
	release, err := g.capacity.Target(t.Name()).Acquire(ctx, shed.Request{Class: rq.class, Tenant: rq.tenant})
	g.recordAdmission(rq, time.Since(start), err)
	if err == nil {
		return release, nil
	}
	se, ok := shed.IsShed(err)
	if !ok { // ctx ended while queued
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

// shedAttempt reports whether an attempt's failure is a refusal by
// admission control (not an upstream answer).
func shedAttempt(e *llm.Error) bool {
	_, ok := shed.IsShed(e)
	return ok
}

// learnFrom is what target's limiter learns from one attempt.
func learnFrom(a Attempt) shed.Result {
	if a.Err == nil {
		return shed.Result{Latency: a.Duration}
	}
	switch a.Kind {
	case llm.KindRateLimited, llm.KindOverloaded:
		return shed.Result{Latency: a.Duration, Overloaded: true, RetryAfter: a.Err.RetryAfter}
	case llm.KindTimeout:
		return shed.Result{Latency: a.Duration, Censored: true}
	}
	return shed.Result{Ignore: true}
}

// holdUntilClose makes a stream's relay keep its permit until the stream
// ends: release runs once, when the relay's attempt context is canceled
// (its end, its stall or its Close).
func holdUntilClose(rl *relay, release func(shed.Result), res shed.Result) {
	prev := rl.cancel
	var once sync.Once
	rl.cancel = func() {
		prev()
		once.Do(func() { release(res) })
	}
}
