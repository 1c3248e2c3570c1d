package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/shed"
)

// The request's deadline is its context's: the client's own timeout (the
// API reads it from the request headers), server.request_timeout and the
// route's total timeout, whichever ends first — but for a stream, whose
// client's timeout bounds only its start (StreamOptions.StartBy, kept in
// request.startBy until the stream started). Every wait of the request
// fits inside it:
//
//   - a target's queue (shed.Limiter.Acquire) refuses at once a request
//     whose estimated wait and service time pass the deadline;
//   - an attempt is not started (tooLate) when the time left is shorter
//     than minAttempt or than the target's fastest recent answer: the
//     request is refused at once, as shed for its deadline (503 with
//     Retry-After), rather than sent to time out;
//   - a retry is not scheduled (retryWait) when its backoff and that
//     shortest answer would pass the deadline.
//
// A client that says it is retrying (llm.ChatRequest.ClientRetries > 0,
// from X-Stainless-Retry-Count) gets no retry of the same target from
// Bulwark: its SDK retries already, and retries on both sides would
// multiply. Failing over to another target still happens, since the
// client's own retry cannot reach one.

// deadline is the time by which rq must be answered: its context's
// deadline or, for a stream not started yet, its client's start deadline
// if that comes first.
func (rq *request) deadline(ctx context.Context) (time.Time, bool) {
	dl, ok := ctx.Deadline()
	if s := rq.startBy; !s.IsZero() && (!ok || s.Before(dl)) {
		return s, true
	}
	return dl, ok
}

// minAttempt is the least time left for which an attempt is started.
const minAttempt = 10 * time.Millisecond

// attemptNeeds is the least time an attempt on t needs to be answered:
// its fastest recent answer (a stream's first content), at least
// minAttempt.
func attemptNeeds(t *route.Target) time.Duration {
	return max(t.Health.Load.Min(), minAttempt)
}

// tooLate returns the refusal of an attempt on t when the request has
// less time left before its deadline than the attempt needs, nil when it
// may start.
func (rq *request) tooLate(ctx context.Context, t *route.Target) *llm.Error {
	dl, ok := rq.deadline(ctx)
	if !ok {
		return nil
	}
	need := attemptNeeds(t)
	if time.Until(dl) >= need {
		return nil
	}
	se := &shed.Error{Reason: shed.ReasonDeadline, Scope: shed.ScopeSystem, RetryAfter: max(need, time.Second),
		Class: rq.class, Tenant: rq.tenant, Target: t.Name()}
	return &llm.Error{Kind: llm.KindOverloaded, Status: http.StatusServiceUnavailable, Provider: t.Provider, Model: t.Model,
		Code: se.Reason, RetryAfter: se.RetryAfter, Message: se.Error(), Err: se}
}
