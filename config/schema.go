package config

// Config is the whole configuration file. The zero value of every field is
// valid and means "the default"; Default returns a Config with those
// defaults filled in and the built-in simulated models present.
type Config struct {
	// Listen is the address of the OpenAI-compatible and admin API.
	Listen string `yaml:"listen" json:"listen"`
	// DataDir holds the embedded database and other local state.
	DataDir string `yaml:"data_dir" json:"data_dir"`
	Log     Log    `yaml:"log" json:"log"`
	Server  Server `yaml:"server" json:"server"`
	// Providers are the upstream APIs, by name.
	Providers map[string]Provider `yaml:"providers" json:"providers"`
	// Models are the aliases clients send as "model", in order.
	Models []Model `yaml:"models" json:"models"`
	// DisableBuiltinSim removes the built-in "sim" provider and the sim-chat
	// and sim-embed aliases that are otherwise always present.
	DisableBuiltinSim bool `yaml:"disable_builtin_sim" json:"disable_builtin_sim,omitempty"`

	// Telemetry configures metrics, traces and drift detection (telemetry.go).
	Telemetry Telemetry `yaml:"telemetry" json:"telemetry"`

	// Capacity configures admission control (capacity.go).
	Capacity Capacity `yaml:"capacity" json:"capacity"`

	// Store, Prices and Limits configure tenancy and governance (store.go).
	Store  Store            `yaml:"store" json:"store"`
	Prices map[string]Price `yaml:"prices" json:"prices,omitempty"`
	Limits Limits           `yaml:"limits" json:"limits"`

	// Knowledge configures the knowledge bases (knowledge.go).
	Knowledge Knowledge `yaml:"knowledge" json:"knowledge"`

	// Cache configures the exact response cache (cache.go).
	Cache Cache `yaml:"cache" json:"cache"`

	// Responses configures the Responses API (responses.go).
	Responses Responses `yaml:"responses" json:"responses"`

	// Backup schedules backups of the embedded store (backup.go).
	Backup Backup `yaml:"backup" json:"backup"`

	// Async configures background responses and async chat completions
	// (async.go).
	Async Async `yaml:"async" json:"async"`
	// Webhooks are the endpoints told when asynchronous work ends
	// (async.go).
	Webhooks []Webhook `yaml:"webhooks" json:"webhooks,omitempty"`

	// lines maps a field's path (models[2].targets[0].provider) to its line
	// in the file the Config was parsed from; nil for a Config built in code.
	lines map[string]int
}

// Log configures the process log.
type Log struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level" json:"level"`
	// Format is json (default) or text.
	Format string `yaml:"format" json:"format"`
}

// Server configures the HTTP server's protection of itself.
type Server struct {
	// MaxBodyBytes bounds a request body (default 8 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes"`
	// ReadHeaderTimeout bounds how long a client may take to send headers
	// (default 10s).
	ReadHeaderTimeout Duration `yaml:"read_header_timeout" json:"read_header_timeout"`
	// IdleTimeout closes idle keep-alive connections (default 120s).
	IdleTimeout Duration `yaml:"idle_timeout" json:"idle_timeout"`
	// ShutdownGrace bounds how long SIGTERM waits for in-flight requests and
	// streams before ending them (default 30s): a stream then ends with a
	// server_shutting_down error event, a call with a 503, and each request
	// still writes its usage record, within a few seconds more.
	ShutdownGrace Duration `yaml:"shutdown_grace" json:"shutdown_grace"`
	// RequestTimeout bounds one client request, streams included
	// (default 10m).
	RequestTimeout Duration `yaml:"request_timeout" json:"request_timeout"`
	// MaxInflight bounds the requests served at once (default 4096);
	// MaxQueued those waiting for an upstream target (default 1024).
	// Beyond them requests are refused with 503 at once (capacity.go).
	MaxInflight int `yaml:"max_inflight" json:"max_inflight,omitempty"`
	MaxQueued   int `yaml:"max_queued" json:"max_queued,omitempty"`
	// ReadTimeout bounds how long a client may take to send a request,
	// body included (default 60s); WriteTimeout how long a non-streaming
	// response may take to be written (default 60s; a stream bounds each
	// write instead); MaxHeaderBytes the size of a request's headers
	// (default 64 KiB). A stalled client cannot hold a connection past
	// them (capacity.go).
	ReadTimeout    Duration `yaml:"read_timeout" json:"read_timeout"`
	WriteTimeout   Duration `yaml:"write_timeout" json:"write_timeout"`
	MaxHeaderBytes int      `yaml:"max_header_bytes" json:"max_header_bytes,omitempty"`

	// StreamWriteTimeout bounds one write of a stream to its client
	// (default 30s): a client that stops reading ends its stream, and
	// the upstream call and admission slot behind it, after this long.
	StreamWriteTimeout Duration `yaml:"stream_write_timeout" json:"stream_write_timeout"`
	// H2C serves cleartext HTTP/2 (prior knowledge) next to HTTP/1.1 on
	// the listener, for proxies that speak HTTP/2 to their backends
	// (Envoy, ingress controllers): many streams then share one
	// connection instead of holding one each.
	H2C bool `yaml:"h2c" json:"h2c,omitempty"`
}

// Provider types.
const (
	ProviderOpenAI = "openai"
	ProviderSim    = "sim"
)

// Provider is one upstream API.
type Provider struct {
	// Type is openai (any OpenAI-compatible server), anthropic, bedrock,
	// gemini (vendors.go) or sim.
	Type string `yaml:"type" json:"type"`
	// BaseURL is the API root, e.g. https://api.openai.com/v1. For Azure
	// OpenAI's deployment form it may contain {model}, replaced by the
	// target's model (the deployment name):
	// https://res.openai.azure.com/openai/deployments/{model}
	BaseURL string `yaml:"base_url" json:"base_url"`
	// APIKey is sent as a bearer token (or as api-key when APIVersion is
	// set). Write it as ${ENV_VAR}; it never appears in logs or errors.
	APIKey string `yaml:"api_key" json:"-"`
	// APIVersion selects Azure OpenAI's form: ?api-version=… on every call
	// and the key in the api-key header.
	APIVersion string `yaml:"api_version" json:"api_version,omitempty"`
	// Headers are extra headers sent on every call (e.g. OpenAI-Organization).
	Headers map[string]string `yaml:"headers" json:"-"`
	// ConnectTimeout bounds dialing the upstream (default 10s).
	ConnectTimeout Duration `yaml:"connect_timeout" json:"connect_timeout"`
	// H2C speaks cleartext HTTP/2 with prior knowledge to an http://
	// base_url, so that calls share a few connections instead of holding
	// one each (an OpenAI-compatible server that serves h2c, such as one
	// behind Envoy, or bulwark sim). Ignored for https://, which
	// negotiates HTTP/2 itself.
	H2C bool `yaml:"h2c" json:"h2c,omitempty"`
	// Seed makes a sim provider deterministic (default 1).
	Seed int64 `yaml:"seed" json:"seed,omitempty"`
	// SimModels configures a sim provider's models by name.
	SimModels map[string]SimModel `yaml:"models" json:"models,omitempty"`
	// RateLimitHeaders makes admission control heed what the upstream
	// says of its own rate limit on every answer (x-ratelimit-remaining-*
	// and -reset-*): a target whose limit is about used up stops taking
	// calls until enough of it is back, before the upstream refuses them
	// (default true; capacity.go).
	RateLimitHeaders *bool `yaml:"rate_limit_headers" json:"rate_limit_headers,omitempty"`
	// LoadMetrics scrapes the load a self-hosted server (vLLM) reports at
	// its /metrics; nil means no scraping (loadmetrics.go).
	LoadMetrics *LoadMetrics `yaml:"load_metrics" json:"load_metrics,omitempty"`
	// ContinuePrefix declares that the provider's models continue an
	// answer from a prefix, and how: vllm (the text so far as a trailing
	// assistant message with continue_final_message true and
	// add_generation_prompt false; a sim provider understands it too).
	// Empty means they cannot: OpenAI's own API accepts a trailing
	// assistant message but starts a new answer. Only such targets finish
	// a broken stream (models[].stream_recovery; stream_recovery.go).
	ContinuePrefix string `yaml:"continue_prefix" json:"continue_prefix,omitempty"`
	// Region, Profile and Endpoint are a bedrock provider's AWS region
	// (required), shared-config profile (optional; else the default
	// chain) and service URL override (optional; e.g. a bulwark sim).
	Region   string `yaml:"region" json:"region,omitempty"`
	Profile  string `yaml:"profile" json:"profile,omitempty"`
	Endpoint string `yaml:"endpoint" json:"endpoint,omitempty"`
}

// Model is an alias clients send as "model", routed to targets.
type Model struct {
	Name    string   `yaml:"name" json:"name"`
	Targets []Target `yaml:"targets" json:"targets"`
	// Fallbacks are aliases tried when every target failed.
	Fallbacks []string `yaml:"fallbacks" json:"fallbacks,omitempty"`
	// ContextWindow is the alias's context window in tokens, zero if unknown.
	ContextWindow int `yaml:"context_window" json:"context_window,omitempty"`
	// FallbackOn names aliases tried on specific failures (resilience.go).
	FallbackOn FallbackOn `yaml:"fallback_on" json:"fallback_on"`
	// Timeouts, Retry, Breaker, Balance and Hedge are the alias's resilience
	// policy (resilience.go); zero values mean the defaults.
	Timeouts Timeouts `yaml:"timeouts" json:"timeouts"`
	Retry    Retry    `yaml:"retry" json:"retry"`
	Breaker  Breaker  `yaml:"breaker" json:"breaker"`
	Balance  string   `yaml:"balance" json:"balance,omitempty"`
	Hedge    Hedge    `yaml:"hedge" json:"hedge"`
	// Capacity is the adaptive concurrency limit of the alias's targets
	// (capacity.go).
	Capacity ModelCapacity `yaml:"capacity" json:"capacity"`
	// Tenants, when set, are the only tenants that may use the alias,
	// whether they send its name or a name their aliases map to it; to
	// every other tenant it does not exist (tenants.go).
	Tenants []string `yaml:"tenants" json:"tenants,omitempty"`
	// Limits bound the alias's traffic from every tenant together, on top
	// of each key's and tenant's own limits; zero fields limit nothing.
	Limits ModelLimits `yaml:"limits" json:"limits"`
	// StreamRecovery lets a stream that breaks after its first content be
	// finished by a target that continues a prefix (stream_recovery.go);
	// the zero value is off.
	StreamRecovery StreamRecovery `yaml:"stream_recovery" json:"stream_recovery"`
	// Cache is the alias's use of the response cache (cache.go).
	Cache ModelCache `yaml:"cache" json:"cache"`
	// Knowledge grounds the alias's answers in knowledge bases
	// (grounding.go); the zero value is none.
	Knowledge AliasKnowledge `yaml:"knowledge" json:"knowledge"`
	// Guardrails check what clients send the alias and what it answers
	// (guard.go); the zero value checks nothing.
	Guardrails Guardrails `yaml:"guardrails" json:"guardrails"`
	// Tools governs the tools requests declare and the model calls
	// (tools.go); the zero value governs nothing.
	Tools ModelTools `yaml:"tools" json:"tools"`
	// ResponseFormat checks structured outputs against the request's
	// json_schema (tools.go); the zero value checks nothing.
	ResponseFormat ModelResponseFormat `yaml:"response_format" json:"response_format"`
}

// ModelLimits are an alias's rate limits, enforced by the limits backend
// (Config.Limits) like a key's or a tenant's.
type ModelLimits struct {
	RequestsPerMinute int `yaml:"requests_per_minute" json:"requests_per_minute,omitempty"`
	TokensPerMinute   int `yaml:"tokens_per_minute" json:"tokens_per_minute,omitempty"`
	// Concurrent is how many of the alias's requests may be in flight at
	// once.
	Concurrent int `yaml:"concurrent" json:"concurrent,omitempty"`
}

// Target is one provider model behind an alias.
type Target struct {
	Provider string `yaml:"provider" json:"provider"`
	Model    string `yaml:"model" json:"model"`
	// Weight is the share of traffic for weighted selection (default 1).
	Weight int `yaml:"weight" json:"weight,omitempty"`
	// Classes reserves the target for requests of these priority classes
	// (critical, interactive, batch): they use it before the alias's
	// other targets and move on to those only when it is full; requests
	// of other classes never use it. Empty: every class, no preference
	// (a provisioned-throughput model or a dedicated deployment for
	// critical journeys is `classes: [critical]`).
	Classes []string `yaml:"classes" json:"classes,omitempty"`
}
