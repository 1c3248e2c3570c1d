package telemetry

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// GenAI operation names (gen_ai.operation.name).
const (
	OperationChat       = "chat"
	OperationEmbeddings = "embeddings"
	// OperationRerank is not in the GenAI conventions yet; it names a
	// rerank call (gateway.Gateway.Rerank).
	OperationRerank = "rerank"
)

// Token types (gen_ai.token.type).
const (
	TokenInput  = "input"
	TokenOutput = "output"
)

// Bucket boundaries. The GenAI ones are those the OpenTelemetry GenAI
// semantic conventions advise.
var (
	durationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	tokenBuckets    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	ttftBuckets     = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0}
	tpotBuckets     = []float64{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5}
	overheadBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25}
	waitBuckets     = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	attemptBuckets  = []float64{1, 2, 3, 4, 5, 6, 8, 10}
)

// MetricsOptions configure Metrics. The zero value is valid.
type MetricsOptions struct {
	// KnownAlias reports whether a model alias is one the routing table
	// serves; other aliases (a client can send anything) are labelled
	// Other. Nil labels every alias Other. It is called on the hot path and
	// must be cheap and safe for concurrent use.
	KnownAlias func(alias string) bool
	// TenantLabel labels request, token and shed metrics by tenant; off,
	// the tenant label is empty.
	TenantLabel bool
	// MaxTenants caps the distinct tenant label values; later tenants are
	// labelled Other. Zero means DefaultMaxTenants.
	MaxTenants int
	// MaxResponseModels caps the distinct response models (what upstreams
	// say they ran) used as label values. Zero means
	// DefaultMaxResponseModels.
	MaxResponseModels int
	// NoProcessMetrics leaves out the Go runtime and process collectors.
	NoProcessMetrics bool
}

// Defaults of MetricsOptions.
const (
	DefaultMaxTenants        = 1000
	DefaultMaxResponseModels = 200
)

// Metrics holds Bulwark's Prometheus registry and every metric the request
// path records. Its methods are safe for concurrent use. The recording
// methods of a nil *Metrics do nothing, so that a component built without
// metrics (in a test) needs no check.
type Metrics struct {
	reg *prometheus.Registry

	aliases bounded
	tenants bounded
	models  bounded
	tenant  bool

	// GenAI semantic-convention metrics.
	opDuration  *prometheus.HistogramVec
	tokenUsage  *prometheus.HistogramVec
	srvDuration *prometheus.HistogramVec
	srvTTFT     *prometheus.HistogramVec
	srvTPOT     *prometheus.HistogramVec

	// Bulwark's own.
	requests       *prometheus.CounterVec
	overhead       *prometheus.HistogramVec
	reqAttempts    *prometheus.HistogramVec
	tokens         *prometheus.CounterVec
	attempts       *prometheus.CounterVec
	retries        *prometheus.CounterVec
	fallbacks      *prometheus.CounterVec
	upstreamErrs   *prometheus.CounterVec
	breakerState   *prometheus.GaugeVec
	targetInflight *prometheus.GaugeVec
	breakerTrans   *prometheus.CounterVec
	adaptiveLimit  *prometheus.GaugeVec
	inflight       *prometheus.GaugeVec
	queueDepth     *prometheus.GaugeVec
	queueWait      *prometheus.HistogramVec
	admitted       *prometheus.CounterVec
	shed           *prometheus.CounterVec
	continuations  *prometheus.CounterVec
	cooldowns      *prometheus.CounterVec // targets cooled down (cooldown.go)
	httpRequests   *prometheus.CounterVec
	httpDuration   *prometheus.HistogramVec

	// The response cache's (cache.go).
	cacheLookups *prometheus.CounterVec
	cacheStores  *prometheus.CounterVec
	cacheErrors  *prometheus.CounterVec

	// Grounding searches' (retrieval.go).
	retrieval *retrievalMetrics
	guard     *guardMetrics // guardrails' (guard.go)
	tools     *toolMetrics  // tool governance's (tools.go)

	// What self-hosted upstream servers report about their load.
	upstreamWaiting *prometheus.GaugeVec
	upstreamRunning *prometheus.GaugeVec
	upstreamKVCache *prometheus.GaugeVec
	upstreamMu      sync.Mutex // serialises SetUpstreamLoad

	targetsMu sync.Mutex // serialises SetTargets
	tap       Tap        // a copy of every request record (tap.go); nil: none
	scrapeMu  sync.Mutex // guards onScrape
	onScrape  []func()
}

// Label names of the GenAI semantic conventions, as Prometheus spells them.
const (
	lOperation     = "gen_ai_operation_name"
	lProvider      = "gen_ai_provider_name"
	lRequestModel  = "gen_ai_request_model"
	lResponseModel = "gen_ai_response_model"
	lTokenType     = "gen_ai_token_type"
	lErrorType     = "error_type"
)

// NewMetrics returns Metrics registered on a new registry.
func NewMetrics(o MetricsOptions) *Metrics {
	if o.MaxTenants == 0 {
		o.MaxTenants = DefaultMaxTenants
	}
	if o.MaxResponseModels == 0 {
		o.MaxResponseModels = DefaultMaxResponseModels
	}
	m := &Metrics{
		reg:     prometheus.NewRegistry(),
		aliases: bounded{known: o.KnownAlias},
		tenants: bounded{max: int64(o.MaxTenants)},
		models:  bounded{max: int64(o.MaxResponseModels)},
		tenant:  o.TenantLabel,
	}
	hist := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
		m.reg.MustRegister(v)
		return v
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v
	}
	genAI := []string{lOperation, lProvider, lRequestModel, lResponseModel, lErrorType}
	genAIServer := []string{lOperation, lProvider, lRequestModel, lResponseModel}

	m.opDuration = hist("gen_ai_client_operation_duration_seconds",
		"GenAI operation duration of one upstream attempt, Bulwark being the client.", durationBuckets, genAI...)
	m.tokenUsage = hist("gen_ai_client_token_usage",
		"Tokens used by one successful upstream attempt, by token type.", tokenBuckets,
		lOperation, lProvider, lRequestModel, lResponseModel, lTokenType)
	m.srvDuration = hist("gen_ai_server_request_duration_seconds",
		"Duration of one client request, Bulwark being the server; the request model is the alias.", durationBuckets, genAI...)
	m.srvTTFT = hist("gen_ai_server_time_to_first_token_seconds",
		"Time from the client request to the first token Bulwark sent it.", ttftBuckets, genAIServer...)
	m.srvTPOT = hist("gen_ai_server_time_per_output_token_seconds",
		"Time per output token after the first, for the client request.", tpotBuckets, genAIServer...)

	m.requests = counter("bulwark_requests_total",
		"Client requests by operation, alias, the target that served them (provider, model), HTTP status and tenant.",
		"operation", "alias", "provider", "model", "status", "tenant")
	m.overhead = hist("bulwark_overhead_seconds",
		"Time a client request spent in Bulwark itself: its duration less the time waiting for upstreams.",
		overheadBuckets, "operation")
	m.reqAttempts = hist("bulwark_request_attempts",
		"Upstream attempts made for one client request.", attemptBuckets, "operation", "alias")
	m.tokens = counter("bulwark_tokens_total",
		"Tokens served by alias, tenant and token type.", "alias", "tenant", "type")
	m.attempts = counter("bulwark_attempts_total",
		"Upstream attempts by alias, target and outcome (success or error).", "alias", "provider", "model", "outcome")
	m.retries = counter("bulwark_retries_total",
		"Upstream attempts that repeat a failed one, by alias and the target retried on.", "alias", "provider", "model")
	m.fallbacks = counter("bulwark_fallbacks_total",
		"Upstream attempts moved to another target than the previous attempt's, by alias and the target fallen back to.",
		"alias", "provider", "model")
	m.upstreamErrs = counter("bulwark_upstream_errors_total",
		"Failed upstream attempts by target and error kind.", "provider", "model", "kind")
	m.breakerState = gauge("bulwark_breaker_state",
		"Circuit breaker state by target: 0 closed, 1 half-open, 2 open.", "provider", "model")
	m.targetInflight = gauge("bulwark_target_inflight",
		"Outstanding upstream calls by target.", "provider", "model")
	m.breakerTrans = counter("bulwark_breaker_transitions_total",
		"Circuit breaker transitions by target and the state entered.", "provider", "model", "state")
	m.adaptiveLimit = gauge("bulwark_adaptive_limit",
		"Current adaptive concurrency limit by scope.", "scope")
	m.inflight = gauge("bulwark_inflight",
		"Requests in flight by scope.", "scope")
	m.queueDepth = gauge("bulwark_queue_depth",
		"Requests waiting for admission by priority class.", "class")
	m.queueWait = hist("bulwark_queue_wait_seconds",
		"Time a request waited for admission by priority class, shed or admitted.", waitBuckets, "class")
	m.admitted = counter("bulwark_admitted_total",
		"Requests admitted by priority class.", "class")
	m.shed = counter("bulwark_shed_total",
		"Requests shed (refused for overload) by priority class, tenant and reason.", "class", "tenant", "reason")
	m.continuations = counter("bulwark_stream_continuations_total",
		"Continuations of streams that broke after their first content, by alias, the target that continued (for one that failed, the last tried; empty when none was), the break (cut, idle, malformed, error_event) and outcome (completed, broken, canceled, failed, prefill_refused).",
		"alias", "target", "reason", "outcome")
	m.httpRequests = counter("bulwark_http_requests_total",
		"HTTP requests by route and status.", "route", "code")
	m.httpDuration = hist("bulwark_http_request_duration_seconds",
		"HTTP request duration by route.", durationBuckets, "route")
	m.upstreamWaiting = gauge("bulwark_upstream_requests_waiting",
		"Requests queued at a target's server, as its last fresh metrics report said (providers' load_metrics).", "provider", "model")
	m.upstreamRunning = gauge("bulwark_upstream_requests_running",
		"Requests in service at a target's server, as its last fresh metrics report said.", "provider", "model")
	m.upstreamKVCache = gauge("bulwark_upstream_kv_cache_usage_ratio",
		"Share of a target's server KV cache in use (0 to 1), as its last fresh metrics report said.", "provider", "model")

	m.cacheLookups = counter("bulwark_cache_lookups_total",
		"Cacheable requests looked up in the response cache, by alias and result (hit, semantic — the answer of a similar earlier question — or miss; a Cache-Control: no-cache request is a miss).",
		"alias", "result")
	m.cacheStores = counter("bulwark_cache_stores_total",
		"Complete answers stored in the response cache, by alias.", "alias")
	m.cacheErrors = counter("bulwark_cache_errors_total",
		"Failures of the response cache, served as misses, by operation (get, set, encode, decode; embed, semantic_search, semantic_add for the semantic cache).", "op")

	m.cooldowns = newCooldowns(m.reg)
	m.retrieval = newRetrievalMetrics(m.reg)
	m.guard = newGuardMetrics(m.reg)
	m.tools = newToolMetrics(m.reg)

	if !o.NoProcessMetrics {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// Registry returns the registry the metrics live on. Other packages (the
// drift detector) register their collectors on it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(prometheus.GathererFunc(m.gather), promhttp.HandlerOpts{Registry: m.reg, EnableOpenMetrics: true})
}

func (m *Metrics) tenantLabel(t string) string {
	if !m.tenant {
		return ""
	}
	return m.tenants.value(t)
}

// RequestRecord is one finished client request.
type RequestRecord struct {
	// Operation is OperationChat or OperationEmbeddings.
	Operation string
	Tenant    string
	// Alias is the model the client asked for.
	Alias string
	// Provider and Model name the target that served the request (the
	// last attempted one on failure); empty when no upstream was called.
	Provider string
	Model    string
	// ResponseModel is the model the upstream said it ran.
	ResponseModel string
	// Status is the HTTP status the client got.
	Status int
	// ErrorType is empty on success, else a short stable name (an
	// llm.Kind's String, "shed", "quota", …).
	ErrorType string
	// Duration is the whole request; Upstream the part spent waiting for
	// upstreams. Their difference is Bulwark's overhead.
	Duration time.Duration
	Upstream time.Duration
	// TimeToFirstToken is the time to the first token sent to the client
	// (for a non-streamed answer, to the answer); zero when none was sent.
	TimeToFirstToken time.Duration
	InputTokens      int
	OutputTokens     int
	// Attempts is how many upstream attempts were made.
	Attempts int
}

// RecordRequest records a finished client request.
func (m *Metrics) RecordRequest(r RequestRecord) {
	if m == nil {
		return
	}
	alias := m.aliases.value(r.Alias)
	tenant := m.tenantLabel(r.Tenant)
	respModel := m.models.value(r.ResponseModel)
	m.requests.WithLabelValues(r.Operation, alias, r.Provider, r.Model, statusLabel(r.Status), tenant).Inc()
	m.srvDuration.WithLabelValues(r.Operation, r.Provider, alias, respModel, r.ErrorType).Observe(r.Duration.Seconds())
	own := r.Duration - r.Upstream
	if own < 0 {
		own = 0
	}
	m.overhead.WithLabelValues(r.Operation).Observe(own.Seconds())
	if r.Attempts > 0 {
		m.reqAttempts.WithLabelValues(r.Operation, alias).Observe(float64(r.Attempts))
	}
	if r.ErrorType == "" && r.TimeToFirstToken > 0 {
		m.srvTTFT.WithLabelValues(r.Operation, r.Provider, alias, respModel).Observe(r.TimeToFirstToken.Seconds())
		if r.OutputTokens > 1 && r.Duration > r.TimeToFirstToken {
			per := (r.Duration - r.TimeToFirstToken).Seconds() / float64(r.OutputTokens-1)
			m.srvTPOT.WithLabelValues(r.Operation, r.Provider, alias, respModel).Observe(per)
		}
	}
	if r.InputTokens > 0 {
		m.tokens.WithLabelValues(alias, tenant, TokenInput).Add(float64(r.InputTokens))
	}
	if r.OutputTokens > 0 {
		m.tokens.WithLabelValues(alias, tenant, TokenOutput).Add(float64(r.OutputTokens))
	}
	if m.tap != nil {
		r.Alias = alias
		m.tap.Request(r)
	}
}

// ContinuationRecord is one continuation of a stream that broke after its
// first content, once its outcome is known.
type ContinuationRecord struct {
	// Alias is the route the stream was served on.
	Alias string
	// Target is the provider/model that continued the stream; for a
	// continuation that failed, the last one tried (empty when none was).
	Target string
	// Reason is the break continued: cut, idle, malformed or error_event.
	Reason string
	// Outcome is how the continuation ended: completed (its stream ended
	// properly), broken (it broke too), canceled (the client closed the
	// stream), failed (no target could start it) or prefill_refused (the
	// target tried last refused the prefill).
	Outcome string
}

// RecordContinuation counts a continuation in
// bulwark_stream_continuations_total.
func (m *Metrics) RecordContinuation(c ContinuationRecord) {
	if m == nil {
		return
	}
	m.continuations.WithLabelValues(m.aliases.value(c.Alias), c.Target, c.Reason, c.Outcome).Inc()
}

// AttemptRecord is one finished upstream attempt.
type AttemptRecord struct {
	Operation string
	Alias     string
	// Provider is the provider's config name; Model the upstream model
	// asked for.
	Provider      string
	Model         string
	ResponseModel string
	// Number is the attempt's place in the request's attempt loop, from 1.
	Number int
	// Fallback is set when the attempt went to another target than the
	// previous attempt.
	Fallback bool
	// Hedge is set for the second attempt of a hedged request: it repeats
	// no failed attempt, so it is not counted as a retry.
	Hedge    bool
	Duration time.Duration
	// ErrorKind is empty on success, else the llm.Kind's String.
	ErrorKind    string
	InputTokens  int
	OutputTokens int
}

// RecordAttempt records a finished upstream attempt.
func (m *Metrics) RecordAttempt(a AttemptRecord) {
	if m == nil {
		return
	}
	alias := m.aliases.value(a.Alias)
	respModel := m.models.value(a.ResponseModel)
	m.opDuration.WithLabelValues(a.Operation, a.Provider, a.Model, respModel, a.ErrorKind).Observe(a.Duration.Seconds())
	outcome := "success"
	if a.ErrorKind != "" {
		outcome = "error"
		m.upstreamErrs.WithLabelValues(a.Provider, a.Model, a.ErrorKind).Inc()
	}
	m.attempts.WithLabelValues(alias, a.Provider, a.Model, outcome).Inc()
	if a.Number > 1 && !a.Hedge {
		m.retries.WithLabelValues(alias, a.Provider, a.Model).Inc()
	}
	if a.Fallback {
		m.fallbacks.WithLabelValues(alias, a.Provider, a.Model).Inc()
	}
	if a.ErrorKind == "" {
		if a.InputTokens > 0 {
			m.tokenUsage.WithLabelValues(a.Operation, a.Provider, a.Model, respModel, TokenInput).Observe(float64(a.InputTokens))
		}
		if a.OutputTokens > 0 {
			m.tokenUsage.WithLabelValues(a.Operation, a.Provider, a.Model, respModel, TokenOutput).Observe(float64(a.OutputTokens))
		}
	}
}

// BreakerState is a circuit breaker's state.
type BreakerState int

// Breaker states, as the bulwark_breaker_state gauge reports them.
const (
	BreakerClosed   BreakerState = 0
	BreakerHalfOpen BreakerState = 1
	BreakerOpen     BreakerState = 2
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerHalfOpen:
		return "half_open"
	case BreakerOpen:
		return "open"
	}
	return "unknown"
}

// ParseBreakerState returns the state a breaker names as closed, open or
// half-open (half_open); anything else is BreakerClosed.
func ParseBreakerState(s string) BreakerState {
	switch s {
	case "open":
		return BreakerOpen
	case "half-open", "half_open":
		return BreakerHalfOpen
	}
	return BreakerClosed
}

// RecordBreakerTransition records that the breaker of a target entered
// state: it counts the transition and sets the state gauge.
func (m *Metrics) RecordBreakerTransition(provider, model string, state BreakerState) {
	if m == nil {
		return
	}
	m.breakerState.WithLabelValues(provider, model).Set(float64(state))
	m.breakerTrans.WithLabelValues(provider, model, state.String()).Inc()
}

// TargetSample is one target's state as a scrape sees it.
type TargetSample struct {
	Provider string
	Model    string
	Breaker  BreakerState
	// Inflight is the target's outstanding upstream calls.
	Inflight int64
}

// SetTargets replaces the per-target gauges (bulwark_breaker_state,
// bulwark_target_inflight) with samples: a target absent from samples (one
// a reload removed) disappears. Call it from an OnScrape function.
func (m *Metrics) SetTargets(samples []TargetSample) {
	if m == nil {
		return
	}
	m.targetsMu.Lock()
	defer m.targetsMu.Unlock()
	m.breakerState.Reset()
	m.targetInflight.Reset()
	for _, s := range samples {
		m.breakerState.WithLabelValues(s.Provider, s.Model).Set(float64(s.Breaker))
		m.targetInflight.WithLabelValues(s.Provider, s.Model).Set(float64(s.Inflight))
	}
}

// OnScrape adds f to the functions run before each scrape of Handler, to
// bring gauges that mirror other components' state up to date (SetTargets,
// SetQueueDepth). f must be safe for concurrent use.
func (m *Metrics) OnScrape(f func()) {
	m.scrapeMu.Lock()
	defer m.scrapeMu.Unlock()
	m.onScrape = append(m.onScrape, f)
}

// gather runs the OnScrape functions, then gathers the registry.
func (m *Metrics) gather() ([]*dto.MetricFamily, error) {
	m.scrapeMu.Lock()
	fs := m.onScrape
	m.scrapeMu.Unlock()
	for _, f := range fs {
		f()
	}
	return m.reg.Gather()
}

// SetAdaptiveLimit records the current adaptive concurrency limit and the
// requests in flight of a scope (a target, or "global"). Scopes must come
// from configuration, never from a client.
func (m *Metrics) SetAdaptiveLimit(scope string, limit float64, inflight int) {
	if m == nil {
		return
	}
	m.adaptiveLimit.WithLabelValues(scope).Set(limit)
	m.inflight.WithLabelValues(scope).Set(float64(inflight))
}

// SetQueueDepth records how many requests of a priority class wait for
// admission.
func (m *Metrics) SetQueueDepth(class string, depth int) {
	if m == nil {
		return
	}
	m.queueDepth.WithLabelValues(class).Set(float64(depth))
}

// AdmissionRecord is one admission decision.
type AdmissionRecord struct {
	// Class is the request's priority class (from configuration).
	Class  string
	Tenant string
	// Wait is how long the request queued before the decision.
	Wait time.Duration
	// Shed is set when the request was refused; Reason then says why
	// (a short stable name: "queue_full", "deadline", "limit").
	Shed   bool
	Reason string
}

// RecordAdmission records an admission decision.
func (m *Metrics) RecordAdmission(a AdmissionRecord) {
	if m == nil {
		return
	}
	m.queueWait.WithLabelValues(a.Class).Observe(a.Wait.Seconds())
	if a.Shed {
		m.shed.WithLabelValues(a.Class, m.tenantLabel(a.Tenant), a.Reason).Inc()
		return
	}
	m.admitted.WithLabelValues(a.Class).Inc()
}

// RecordHTTP records one HTTP request by route pattern and status. The
// Middleware calls it; route must be a registered pattern, not a raw path.
func (m *Metrics) RecordHTTP(route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(route, statusLabel(status)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}

// UpstreamLoadSample is the load a target's server last reported, fresh.
type UpstreamLoadSample struct {
	// Provider and Model name the configured target.
	Provider string
	Model    string
	Waiting  float64
	Running  float64
	// KVCache is the KV-cache usage from 0 to 1; set only when HasKVCache.
	KVCache    float64
	HasKVCache bool
}

// SetUpstreamLoad replaces the bulwark_upstream_* gauges with samples: a
// target absent from samples (no fresh report, or removed by a reload)
// disappears. The targets must come from configuration, never from what
// a server reports, so the label values stay bounded. Call it from an
// OnScrape function.
func (m *Metrics) SetUpstreamLoad(samples []UpstreamLoadSample) {
	if m == nil {
		return
	}
	m.upstreamMu.Lock()
	defer m.upstreamMu.Unlock()
	m.upstreamWaiting.Reset()
	m.upstreamRunning.Reset()
	m.upstreamKVCache.Reset()
	for _, s := range samples {
		m.upstreamWaiting.WithLabelValues(s.Provider, s.Model).Set(s.Waiting)
		m.upstreamRunning.WithLabelValues(s.Provider, s.Model).Set(s.Running)
		if s.HasKVCache {
			m.upstreamKVCache.WithLabelValues(s.Provider, s.Model).Set(s.KVCache)
		}
	}
}
