package gateway

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-ai/bulwark/drift"
	"github.com/bulwark-ai/bulwark/guard"
	"github.com/bulwark-ai/bulwark/limit"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/shed"
	"github.com/bulwark-ai/bulwark/telemetry"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/usage"
)

// Gateway serves chat and embedding calls. It is safe for concurrent use.
type Gateway struct {
	routes atomic.Pointer[route.Table]
	// rnd draws in [0, n) for target selection; jitter in [0, 1) for
	// backoff. Tests may replace them before serving.
	rnd    func(n int) int
	jitter func() float64

	// Observers (observe.go); each may be nil.
	metrics  *telemetry.Metrics
	drift    *drift.Detector
	statusOf func(error) int
	capacity *shed.Controller // admission control (admit.go); nil admits all

	// Governance (quota.go); each may be nil.
	limiter limit.Limiter
	usage   UsageSink
	prices  atomic.Pointer[usage.Prices]

	reqlog *requestLog // the request log (reqlog.go); nil records nothing
	// budgets enforces budgets (budget.go); nil enforces none.
	budgets *budgeting
	// cache is the response cache (cache.go); nil caches nothing.
	cache *answerCache

	// Grounding (ground.go): the knowledge-base search, nil when off,
	// and each alias's groundGuard.
	retriever Retriever
	grounds   sync.Map
}

// New returns a Gateway routing with t and observed by o.
func New(t *route.Table, o Options) *Gateway {
	g := &Gateway{rnd: rand.IntN, jitter: rand.Float64, metrics: o.Metrics, drift: o.Drift, statusOf: o.Status, capacity: o.Capacity}
	g.routes.Store(t)
	return g
}

// SetRoutes swaps in a new routing table; requests already under way keep
// the one they started with.
func (g *Gateway) SetRoutes(t *route.Table) { g.routes.Store(t) }

// Routes returns the current routing table.
func (g *Gateway) Routes() *route.Table { return g.routes.Load() }

// ModelError is a client asking for a model alias it cannot use.
type ModelError struct {
	Model string
	// NotAllowed is set when the alias exists but the key may not use it.
	NotAllowed bool
}

func (e *ModelError) Error() string {
	if e.NotAllowed {
		return fmt.Sprintf("this key is not allowed to use the model %q", e.Model)
	}
	return fmt.Sprintf("the model %q does not exist", e.Model)
}

// Outcome says how a call was served: which target answered, every
// attempt made, and how long was spent waiting for upstreams.
type Outcome struct {
	Alias string
	// Target answered; nil when no attempt succeeded.
	Target *route.Target
	// Attempts is len(Tried).
	Attempts int
	Tried    []Attempt
	// Upstream is the time spent in the attempt loop (for a stream, until
	// its first content was in hand).
	Upstream time.Duration
	// RateLimit is the state of the request's limits after its reservation
	// (the x-ratelimit-* headers); nil when no limit applies.
	RateLimit *RateLimit
	// Continuations are the continuations of a stream that broke after
	// its first content (continue.go); its broken attempts are in Tried
	// with their break.
	Continuations []Continuation
	// Cache is CacheHit or CacheMiss when the request was looked up in
	// the response cache (cache.go), empty when it was not cacheable.
	Cache string
	// Grounding is what the alias's knowledge retrieval did (ground.go);
	// nil when the alias has none.
	Grounding *Grounding
	// Guardrails are what the alias's guardrail checks found (guard.go).
	Guardrails []guard.Finding
	// Tools is what tool governance did (tools.go); nil when none applied.
	Tools *ToolReport
}

// resolve finds the route that serves the model name the client sent, in
// tbl: the name goes through the principal's aliases (its key's over its
// tenant's) first, and an alias restricted to other tenants is not there.
// An unknown name, a mapping to an alias that is gone (a reload removed it)
// or invisible, is a ModelError naming what the client sent. The key's
// allowed models apply to the name the client sent.
//
// From here on the request is the route's: rq.alias, which labels its
// metrics, drift and usage record, becomes the alias of the route used;
// Outcome.Alias stays the client's name.
func resolve(rq *request, tbl *route.Table, p tenant.Principal, model string) (*route.Route, error) {
	r, ok := tbl.LookupFor(p.Alias(model), p.TenantID)
	if !ok {
		return nil, &ModelError{Model: model}
	}
	if !p.Allows(model) {
		return nil, &ModelError{Model: model, NotAllowed: true}
	}
	rq.alias = r.Alias
	return r, nil
}

// withTotal bounds ctx by the route's total timeout, if it has one.
func withTotal(ctx context.Context, r *route.Route) (context.Context, context.CancelFunc) {
	if r.Policy.Total > 0 {
		return context.WithTimeout(ctx, r.Policy.Total)
	}
	return context.WithCancel(ctx)
}

// withAttempt bounds one non-streaming attempt by the route's attempt
// timeout, if it has one.
func withAttempt(ctx context.Context, r *route.Route) (context.Context, context.CancelFunc) {
	if r.Policy.Attempt > 0 {
		return context.WithTimeout(ctx, r.Policy.Attempt)
	}
	return context.WithCancel(ctx)
}

// Chat serves a non-streaming chat completion. req.Model is the alias the
// client sent; each attempt calls its target's model.
func (g *Gateway) Chat(ctx context.Context, p tenant.Principal, req *llm.ChatRequest) (resp *llm.ChatResponse, out Outcome, err error) {
	out = Outcome{Alias: req.Model}
	rq := g.begin(ctx, telemetry.OperationChat, p, req.Model)
	rq.keep(req, false) // for the request log (reqlog.go)
	rq.requestID, rq.clientRetries = req.RequestID, req.ClientRetries
	defer func() {
		ans := answerOf(resp)
		if err == nil {
			ans.firstToken = time.Since(rq.start) // the whole answer at once
		}
		if rq.quota != nil {
			rq.quota.usage = usageOf(resp)
		}
		rq.end(ctx, &out, ans, err)
	}()
	tbl := g.routes.Load()
	r, err := resolve(rq, tbl, p, req.Model)
	if err != nil {
		return nil, out, err
	}
	rq.route = r
	if err := g.guardInput(ctx, rq, r, req, &out); err != nil { // guard.go
		return nil, out, err
	}
	tc, err := g.governTools(rq, r, p, req, &out) // tools.go
	if err != nil {
		return nil, out, err
	}
	if err := g.ground(ctx, r.Alias, p.TenantID, r, req, &out); err != nil { // ground.go
		return nil, out, err
	}
	prompt, err := fitChat(tbl, r, req)
	if err != nil {
		return nil, out, err
	}
	// A hit is served before admission, limits and budgets: it takes no
	// upstream capacity and costs nothing (cache.go).
	cc, hit := g.lookupCache(ctx, rq, p, r, req, false)
	if hit != nil {
		resp = hit.ChatResponse()
		rq.cacheHit(cc, p, false, &out, resp.Usage)
		return resp, out, nil
	}
	if cc != nil {
		out.Cache = CacheMiss
	}
	admitted, err := g.admit(rq, p, req.Priority, req.ServiceTier)
	if err != nil {
		return nil, out, err
	}
	defer admitted()
	if err := g.reserve(ctx, rq, p, false, estimateChat(req, prompt), &out); err != nil {
		return nil, out, err
	}
	tctx, cancel := withTotal(ctx, r)
	defer cancel()
	resp, err = run(tctx, rq, tbl, r, &out, r.Policy.HedgeDelay > 0 || r.Policy.HedgeP95,
		func(ctx context.Context, cr *route.Route, t *route.Target) (*llm.ChatResponse, error) {
			ctx, cancel := withAttempt(ctx, cr)
			defer cancel()
			call := *req
			call.Model = t.Model
			return t.Client.Chat(ctx, &call)
		})
	if err == nil {
		resp, err = g.checkAnswer(ctx, tctx, rq, tbl, r, req, tc, resp, &out) // tools.go
	}
	if err == nil {
		if resp, err = g.guardAnswer(ctx, rq, r, resp, &out); err != nil { // guard.go
			return resp, out, err
		}
		cc.storeChat(ctx, resp, &out, req.N)
	}
	return resp, out, err
}

// Embed computes embeddings, through the same attempt loop as Chat.
func (g *Gateway) Embed(ctx context.Context, p tenant.Principal, req *llm.EmbedRequest) (resp *llm.EmbedResponse, out Outcome, err error) {
	out = Outcome{Alias: req.Model}
	rq := g.begin(ctx, telemetry.OperationEmbeddings, p, req.Model)
	rq.requestID, rq.clientRetries = req.RequestID, req.ClientRetries
	defer func() {
		if rq.quota != nil {
			rq.quota.usage = usageOf(resp)
		}
		rq.end(ctx, &out, answerOf(resp), err)
	}()
	tbl := g.routes.Load()
	r, err := resolve(rq, tbl, p, req.Model)
	if err != nil {
		return nil, out, err
	}
	rq.route = r
	inputs, err := fitEmbed(tbl, r, req)
	if err != nil {
		return nil, out, err
	}
	admitted, err := g.admit(rq, p, req.Priority, req.ServiceTier)
	if err != nil {
		return nil, out, err
	}
	defer admitted()
	if err := g.reserve(ctx, rq, p, false, estimateEmbed(req, inputs), &out); err != nil {
		return nil, out, err
	}
	ctx, cancel := withTotal(ctx, r)
	defer cancel()
	resp, err = run(ctx, rq, tbl, r, &out, false,
		func(ctx context.Context, cr *route.Route, t *route.Target) (*llm.EmbedResponse, error) {
			ctx, cancel := withAttempt(ctx, cr)
			defer cancel()
			call := *req
			call.Model = t.Model
			return t.Client.Embed(ctx, &call)
		})
	return resp, out, err
}

// StreamOptions are the API layer's hooks into a stream's start.
type StreamOptions struct {
	// Heartbeat, when set, is called every route heartbeat interval while
	// no attempt has produced content yet. It is called from another
	// goroutine, never after Stream returns.
	Heartbeat func()
	// StartBy, when set, is the client's deadline for the stream's first
	// content (its SDK's timeout): the attempts, queue waits and retries
	// before it fit inside it, as a whole request's do inside its context's
	// deadline, and a stream that cannot start by then is refused at once.
	// It does not bound the stream once started: the SDKs' timeouts stop
	// at the response's first bytes (Node) or between reads (Python).
	StartBy time.Time
}

// Stream starts a streaming chat completion. It returns once an attempt
// produced its first content (retrying and failing over until then); the
// caller relays the stream and closes it. The returned stream ends with
// io.EOF only when the upstream ended it properly.
//
// A failed Stream is recorded (metrics, request span, drift) before it
// returns; a returned stream is recorded when it ends or is closed, with
// the usage its last chunk reported.
func (g *Gateway) Stream(ctx context.Context, p tenant.Principal, req *llm.ChatRequest, o StreamOptions) (llm.Stream, Outcome, error) {
	out := Outcome{Alias: req.Model}
	rq := g.begin(ctx, telemetry.OperationChat, p, req.Model)
	rq.keep(req, true) // for the request log (reqlog.go)
	rq.requestID, rq.clientRetries, rq.startBy = req.RequestID, req.ClientRetries, o.StartBy
	tbl := g.routes.Load()
	r, err := resolve(rq, tbl, p, req.Model)
	if err != nil {
		rq.end(ctx, &out, answer{}, err)
		return nil, out, err
	}
	rq.route = r
	if err := g.guardInput(ctx, rq, r, req, &out); err != nil { // guard.go
		rq.end(ctx, &out, answer{}, err)
		return nil, out, err
	}
	tc, err := g.governTools(rq, r, p, req, &out) // tools.go
	if err != nil {
		rq.end(ctx, &out, answer{}, err)
		return nil, out, err
	}
	if err := g.ground(ctx, r.Alias, p.TenantID, r, req, &out); err != nil { // ground.go
		rq.end(ctx, &out, answer{}, err)
		return nil, out, err
	}
	prompt, err := fitChat(tbl, r, req)
	if err != nil {
		rq.end(ctx, &out, answer{}, err)
		return nil, out, err
	}
	cc, hit := g.lookupCache(ctx, rq, p, r, req, true) // cache.go
	if hit != nil {
		rp := &replay{chunks: hit.Chunks}
		var ans answer
		ans.model, ans.finish, rp.usage = hit.StreamUsage()
		ans.input, ans.output = rp.usage.PromptTokens, rp.usage.CompletionTokens
		ans.firstToken = time.Since(rq.start) // the whole answer at once
		rq.cacheHit(cc, p, true, &out, rp.usage)
		rq.end(ctx, &out, ans, nil)
		return g.toolStream(ctx, rq, tc, g.guardStream(ctx, rq, r, rp)), out, nil // guard_stream.go, tools_stream.go
	}
	if cc != nil {
		out.Cache = CacheMiss
	}
	admitted, err := g.admit(rq, p, req.Priority, req.ServiceTier)
	if err != nil {
		rq.end(ctx, &out, answer{}, err)
		return nil, out, err
	}
	if err := g.reserve(ctx, rq, p, true, estimateChat(req, prompt), &out); err != nil {
		admitted()
		rq.end(ctx, &out, answer{}, err)
		return nil, out, err
	}
	reqCtx := ctx // the request span's, for the stream's end
	// The total timeout bounds the whole stream, so its cancel belongs to
	// the stream once one is returned.
	ctx, cancel := withTotal(ctx, r)
	stop := heartbeat(r.Policy.Heartbeat, o.Heartbeat)
	s, err := run(ctx, rq, tbl, r, &out, false,
		func(ctx context.Context, cr *route.Route, t *route.Target) (*relay, error) {
			return openStream(ctx, cr, t, req, rq.startBy)
		})
	stop()
	rq.startBy = time.Time{} // started, or failed: the client's start deadline is spent
	if err != nil {
		cancel()
		admitted()
		rq.end(reqCtx, &out, answer{}, err)
		return nil, out, err
	}
	s.onClose = func() { cancel(); admitted() }
	if cc != nil {
		s.cacheRec = &streamRecorder{cc: cc, ctx: reqCtx, target: out.Target.Name()}
	}
	s.watch.handOver(reqCtx, rq, out)
	if r.Policy.Recovery.Enabled() { // continue.go
		s.rec = newRecovery(ctx, tbl, r, req, &s.bill)
	}
	return g.toolStream(reqCtx, rq, tc, g.guardStream(reqCtx, rq, r, s)), out, nil // guard_stream.go, tools_stream.go
}

// heartbeat calls beat every interval until the returned stop is called;
// stop waits for a beat in progress.
func heartbeat(every time.Duration, beat func()) (stop func()) {
	if beat == nil || every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				beat()
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}
