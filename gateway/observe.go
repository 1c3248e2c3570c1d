package gateway

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/bulwark-ai/bulwark/drift"
	"github.com/bulwark-ai/bulwark/limit"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/shed"
	"github.com/bulwark-ai/bulwark/telemetry"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/usage"
)

// Options are a Gateway's optional observers. The zero value observes
// nothing (spans are still created when the request's context carries a
// recording span).
type Options struct {
	// Metrics records every client request and upstream attempt; nil
	// records nothing.
	Metrics *telemetry.Metrics
	// Drift observes every finished request by alias; nil observes
	// nothing.
	Drift *drift.Detector
	// Status maps a failed call's error to the HTTP status the client gets
	// (the API's one error mapping; the gateway cannot import it). Nil
	// labels every failure 500.
	Status func(error) int
	// Capacity is admission control (admit.go); nil admits everything.
	Capacity *shed.Controller
}

// request is one client request as the gateway observes it.
type request struct {
	g      *Gateway
	op     string // telemetry.OperationChat, OperationEmbeddings or OperationRerank
	tenant string
	alias  string
	start  time.Time
	// class is the request's priority class (admit.go).
	class shed.Class
	// quota is the request's reservation and usage record (quota.go);
	// nil until the request reserved.
	quota *quota
	// loop is the state of the request's attempt loop, which a broken
	// stream's continuation resumes (continue.go).
	loop *loop
	// requestID is the API's id of the request (llm.ChatRequest.RequestID),
	// for the usage record; route is the route resolved, nil until then.
	requestID string
	route     *route.Route
	// clientRetries is the client SDK's retry number
	// (llm.ChatRequest.ClientRetries; deadline.go).
	clientRetries int
	// startBy is when a stream's client stops waiting for its first
	// content (StreamOptions.StartBy; deadline.go); zero when it said
	// nothing, and once the stream started.
	startBy time.Time
	// keyID and stream describe the request for the request log
	// (reqlog.go); capture is the text it keeps, nil unless content
	// capture is on.
	keyID   string
	stream  bool
	capture *capture
}

// begin starts observing a client request: it names the request span.
func (g *Gateway) begin(ctx context.Context, op string, p tenant.Principal, alias string) *request {
	telemetry.SetRequest(ctx, telemetry.RequestInfo{Operation: op, Alias: alias, Tenant: p.TenantID})
	return &request{g: g, op: op, tenant: p.TenantID, keyID: p.KeyID, alias: alias, start: time.Now()}
}

// answer is what an upstream answer says about itself.
type answer struct {
	model         string
	input, output int
	finish        []string
	// For a stream: the time from the request's start to its first
	// content, the time spent relaying it after that, and its improper
	// end (nil when it ended properly).
	firstToken time.Duration
	relayed    time.Duration
	broken     error
	// body is a non-streaming chat answer's, for the request log's
	// content capture.
	body []byte
}

func answerOf(v any) answer {
	switch v := v.(type) {
	case *llm.ChatResponse:
		if v != nil {
			return answer{model: v.Model, input: v.Usage.PromptTokens, output: v.Usage.CompletionTokens, finish: v.FinishReasons, body: v.Body}
		}
	case *llm.EmbedResponse:
		if v != nil {
			return answer{model: v.Model, input: v.Usage.PromptTokens}
		}
	case *llm.RerankResponse:
		if v != nil {
			return answer{model: v.Model, input: v.Usage.PromptTokens}
		}
	}
	return answer{}
}

// end records a finished client request: the request metrics, the
// request span's result and a drift observation. err is the call's error
// (nil on success); for a stream that started, ans.broken is its
// improper end.
func (rq *request) end(ctx context.Context, out *Outcome, ans answer, err error) {
	// A request the server's shutdown cut short says so (shutdown.go).
	err, ans.broken = CutByShutdown(ctx, err), CutByShutdown(ctx, ans.broken)
	rq.settle(out, ans, err)
	d := time.Since(rq.start)
	rec := telemetry.RequestRecord{
		Operation:        rq.op,
		Tenant:           rq.tenant,
		Alias:            rq.alias,
		ResponseModel:    ans.model,
		Status:           200,
		Duration:         d,
		Upstream:         out.Upstream + ans.relayed,
		TimeToFirstToken: ans.firstToken,
		InputTokens:      ans.input,
		OutputTokens:     ans.output,
		Attempts:         out.Attempts,
	}
	if t := out.Target; t != nil {
		rec.Provider, rec.Model = t.Provider, t.Model
	} else if n := len(out.Tried); n > 0 {
		rec.Provider, rec.Model = out.triedTarget(n - 1)
	}
	failure := err
	if err != nil {
		rec.Status = rq.g.status(err)
	} else if ans.broken != nil {
		failure = ans.broken
	}
	rec.ErrorType = errorType(failure)
	rq.g.metrics.RecordRequest(rec)
	if rq.g.reqlog != nil || summaryOf(ctx) != nil { // reqlog.go
		done := requestRecord{target: out.targetName(), status: rec.Status, errorType: rec.ErrorType, duration: d, upstream: rec.Upstream}
		rq.summarize(ctx, out, ans, &done)
		rq.logRequest(out, ans, &done)
	}

	spanGateShed(ctx, rq, err) // admit.go
	telemetry.SetRequestResult(ctx, telemetry.RequestResult{
		Provider:      rec.Provider,
		ResponseModel: ans.model,
		InputTokens:   ans.input,
		OutputTokens:  ans.output,
		FinishReasons: ans.finish,
		Attempts:      out.Attempts,
		Continuations: len(out.Continuations),
		Overhead:      max(d-rec.Upstream, 0),
		ErrorType:     rec.ErrorType,
		Err:           failure,
	})

	var me *ModelError
	if errors.As(err, &me) { // the client's mistake says nothing about the model
		return
	}
	if rq.quota != nil && rq.quota.cacheHit { // nor does a cached answer
		return
	}
	ob := drift.Observation{Alias: rq.alias, PromptTokens: ans.input, OutputTokens: ans.output, Latency: d, ErrorKind: rec.ErrorType}
	if len(ans.finish) > 0 {
		ob.FinishReason = ans.finish[0]
	}
	if gr := out.Grounding; gr != nil && gr.Degraded == "" {
		ob.Retrieval = &drift.Retrieval{Chunks: len(gr.Sources), Query: gr.Query}
		if len(gr.Sources) > 0 {
			ob.Retrieval.TopScore = gr.Sources[0].Score
		}
	}
	rq.g.drift.Observe(ob)
}

func (g *Gateway) status(err error) int {
	if g.statusOf == nil {
		return 500
	}
	return g.statusOf(err)
}

// errorType is the error.type of a failure: its llm.Kind, or the model
// error's code; empty for nil.
func errorType(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, ErrShuttingDown) { // before the cancel it wraps
		return "server_shutting_down"
	}
	var me *ModelError
	if errors.As(err, &me) {
		if me.NotAllowed {
			return "model_not_allowed"
		}
		return "model_not_found"
	}
	// Bulwark's own refusals: a rate or concurrency limit of the key or
	// tenant, named as an upstream's would be, and a hard budget, named as
	// the API's error code names it.
	var lim *limit.Error
	if errors.As(err, &lim) {
		return llm.KindRateLimited.String()
	}
	var be *usage.BudgetError
	if errors.As(err, &be) {
		return "budget_exceeded"
	}
	var le *llm.Error
	if errors.As(err, &le) {
		return le.Kind.String()
	}
	if _, ok := shed.IsShed(err); ok { // refused by the process gate
		return "shed"
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return llm.KindTimeout.String()
	case errors.Is(err, context.Canceled):
		return llm.KindCanceled.String()
	}
	return llm.KindUnknown.String()
}

// triedTarget splits the i-th attempt's target name into provider and
// model.
func (o *Outcome) triedTarget(i int) (provider, model string) {
	name := o.Tried[i].Target
	for j := 0; j < len(name); j++ {
		if name[j] == '/' { // provider names hold no "/"
			return name[:j], name[j+1:]
		}
	}
	return name, ""
}

// try is one attempt's place in the attempt loop, for its observation.
type try struct {
	rq     *request
	number int // from 1
	// fallback: the attempt is on a fallback alias, or on another target
	// than the failed attempt before it.
	fallback bool
	hedge    bool
	// others reports whether the request could go to another target
	// than t that is not cooling down (cooldown.go); nil: it cannot.
	others func(t *route.Target) bool
}

// observed is an upstream attempt under way: its client span and metric
// record, ended by finish.
type observed struct {
	span trace.Span
	rec  telemetry.AttemptRecord
	m    *telemetry.Metrics
}

// observe starts the client span of an attempt on t and returns the
// context to call the upstream with (it carries the span, so the upstream
// gets its traceparent).
func (tr try) observe(ctx context.Context, r *route.Route, t *route.Target) (context.Context, *observed) {
	info := telemetry.AttemptInfo{
		Operation: tr.rq.op,
		Alias:     r.Alias,
		Tenant:    tr.rq.tenant,
		Provider:  t.Provider,
		Model:     t.Model,
		Number:    tr.number,
		Fallback:  tr.fallback,
		Hedge:     tr.hedge,
	}
	if telemetry.Recording(ctx) {
		info.BreakerState = t.Health.Breaker.State().State
	}
	ctx, span := telemetry.StartAttempt(ctx, info)
	return ctx, &observed{span: span, m: tr.rq.g.metrics, rec: telemetry.AttemptRecord{
		Operation: tr.rq.op,
		Alias:     r.Alias,
		Provider:  t.Provider,
		Model:     t.Model,
		Number:    tr.number,
		Fallback:  tr.fallback,
		Hedge:     tr.hedge,
	}}
}

// finish ends the attempt's span and records it: d is its duration, ans
// its answer, err its failure (nil on success).
func (o *observed) finish(d time.Duration, ans answer, err *llm.Error) {
	res := telemetry.AttemptResult{ResponseModel: ans.model, InputTokens: ans.input, OutputTokens: ans.output, FinishReasons: ans.finish}
	if err != nil {
		res.ErrorType, res.Err = err.Kind.String(), err
	}
	telemetry.EndAttempt(o.span, res)
	o.rec.Duration, o.rec.ErrorKind = d, res.ErrorType
	o.rec.ResponseModel, o.rec.InputTokens, o.rec.OutputTokens = ans.model, ans.input, ans.output
	o.m.RecordAttempt(o.rec)
}

// streamWatch follows a stream the gateway returned, from its first
// content to its end, so that its successful attempt and its request are
// recorded with the final usage and finish reason. It is used by the
// relay's goroutine.
type streamWatch struct {
	ctx      context.Context // the client request's, for its span
	rq       *request
	out      Outcome
	att      *observed
	attStart time.Time     // when the attempt started
	handed   time.Time     // when Stream returned
	ttft     time.Duration // from the request's start to Stream's return
	ans      answer
	usage    llm.Usage // of the usage chunk, when one came
	// calls are the usage of each upstream call of the stream, by the
	// billing rule (bill.go); set before end.
	calls []callUsage
	done  bool
}

// handOver starts following the stream as Stream returns it: from now on
// it is the client request's (ctx, rq, out).
func (w *streamWatch) handOver(ctx context.Context, rq *request, out Outcome) {
	w.ctx, w.rq, w.out = ctx, rq, out
	w.handed = time.Now()
	w.ttft = w.handed.Sub(rq.start)
}

// chunk notes what a chunk says about the answer.
func (w *streamWatch) chunk(c *llm.Chunk) {
	if c.Model != "" {
		w.ans.model = c.Model
	}
	if c.FinishReason != "" {
		w.ans.finish = append(w.ans.finish, c.FinishReason)
	}
	if c.Usage != nil {
		w.usage = *c.Usage
		w.ans.input, w.ans.output = c.Usage.PromptTokens, c.Usage.CompletionTokens
	}
	if w.rq != nil && w.rq.capture != nil { // content capture (reqlog.go)
		w.rq.capture.chunk(c)
	}
}

// StreamUsage returns the usage a stream returned by Stream reported (its
// final usage once it ended), and whether it reported any: for the API
// edge's access log, which sees only the stream.
func StreamUsage(s llm.Stream) (llm.Usage, bool) {
	if rp, ok := s.(*replay); ok { // a cache hit (cache.go)
		return rp.usage, rp.usage != (llm.Usage{})
	}
	r, ok := s.(*relay)
	if !ok || r.watch == nil || r.watch.usage == (llm.Usage{}) {
		return llm.Usage{}, false
	}
	return r.watch.usage, true
}

// end records the stream's attempt and request once; err is its improper
// end (nil for io.EOF, or when the client closed it first).
func (w *streamWatch) end(err error) {
	if w.done {
		return
	}
	w.done = true
	var le *llm.Error
	if err != nil {
		le = asLLM(err, w.out.Target)
	}
	w.att.finish(time.Since(w.attStart), w.ans, le)
	w.ans.firstToken = w.ttft
	w.ans.relayed = time.Since(w.handed)
	w.ans.broken = err
	if q := w.rq.quota; q != nil {
		q.usage, q.calls, q.counted = sumUsage(w.calls), w.calls, counted(w.calls)
	}
	w.rq.end(w.ctx, &w.out, w.ans, nil)
}
