package config

// SimModel configures one model of the provider simulator. The zero value is
// a fast, fault-free chat model.
type SimModel struct {
	// Kind is chat (default), embedding or rerank.
	Kind string `yaml:"kind" json:"kind,omitempty"`
	// TTFT is the time to first token; ITL the time between tokens.
	TTFT Latency `yaml:"ttft" json:"ttft"`
	ITL  Latency `yaml:"itl" json:"itl"`
	// OutputTokens bounds the length of an answer when the request sets no
	// max_tokens (default 16 to 64).
	OutputTokens Range `yaml:"output_tokens" json:"output_tokens"`
	// MaxConcurrency is how many requests are served at once (0: unlimited);
	// Queue is how many more may wait. Beyond both, the simulator answers
	// OverCapacityStatus (429 or 503, default 429).
	MaxConcurrency     int `yaml:"max_concurrency" json:"max_concurrency,omitempty"`
	Queue              int `yaml:"queue" json:"queue,omitempty"`
	OverCapacityStatus int `yaml:"over_capacity_status" json:"over_capacity_status,omitempty"`
	// RPM and TPM are per-minute request and token limits (0: none), answered
	// with 429, Retry-After and x-ratelimit-* headers.
	RPM int `yaml:"rpm" json:"rpm,omitempty"`
	TPM int `yaml:"tpm" json:"tpm,omitempty"`
	// ContextWindow in tokens (0: unlimited); a longer prompt gets
	// 400 context_length_exceeded.
	ContextWindow int `yaml:"context_window" json:"context_window,omitempty"`
	// Dimensions of an embedding model's vectors (default 256).
	Dimensions int    `yaml:"dimensions" json:"dimensions,omitempty"`
	Faults     Faults `yaml:"faults" json:"faults"`
	// KVCacheTokens is the simulated KV-cache capacity in tokens: the
	// vllm:kv_cache_usage_perc the simulator reports at GET /metrics is the
	// tokens (prompt and completion) of the requests in service over it.
	// Zero reports no KV-cache usage.
	KVCacheTokens int `yaml:"kv_cache_tokens" json:"kv_cache_tokens,omitempty"`
}

// Latency is a latency distribution given by its median and 99th
// percentile (log-normal between them). Both zero means no delay; only P50
// set means a fixed delay.
type Latency struct {
	P50 Duration `yaml:"p50" json:"p50"`
	P99 Duration `yaml:"p99" json:"p99"`
}

// Range is an inclusive integer range.
type Range struct {
	Min int `yaml:"min" json:"min"`
	Max int `yaml:"max" json:"max"`
}

// Faults are the simulator's injected failures. Each Rate is a probability
// in [0, 1] drawn per request; faults are checked in the order of the fields
// below and the first that fires wins.
type Faults struct {
	// ErrorRates answers with an HTTP error status, by status code
	// ("500": 0.1). A 429 carries RetryAfter when it is set.
	ErrorRates map[int]float64 `yaml:"error_rates" json:"error_rates,omitempty"`
	RetryAfter Duration        `yaml:"retry_after" json:"retry_after"`
	// Reset closes the connection before any response header.
	Reset Fault `yaml:"reset" json:"reset"`
	// Hang never answers (until the caller gives up).
	Hang Fault `yaml:"hang" json:"hang"`
	// SlowFirstToken delays the first token (or the whole answer) by Delay.
	SlowFirstToken Fault `yaml:"slow_first_token" json:"slow_first_token"`
	// ContentFilter refuses the request (400, code content_filter).
	ContentFilter Fault `yaml:"content_filter" json:"content_filter"`
	// Cut ends a stream's connection after AfterTokens tokens.
	Cut Fault `yaml:"cut" json:"cut"`
	// Stall stops a stream after AfterTokens tokens for Delay (forever when
	// Delay is zero) while keeping the connection open.
	Stall Fault `yaml:"stall" json:"stall"`
	// Malformed sends an event that is not valid JSON after AfterTokens.
	Malformed Fault `yaml:"malformed" json:"malformed"`
	// NoDone ends a stream properly but without the [DONE] sentinel.
	NoDone Fault `yaml:"no_done" json:"no_done"`
	// ErrorEvent ends a stream with an in-band error event (a server
	// error) after AfterTokens tokens.
	ErrorEvent Fault `yaml:"error_event" json:"error_event"`
}

// Fault is one injected failure.
type Fault struct {
	Rate        float64  `yaml:"rate" json:"rate,omitempty"`
	AfterTokens int      `yaml:"after_tokens" json:"after_tokens,omitempty"`
	Delay       Duration `yaml:"delay" json:"delay"`
}
