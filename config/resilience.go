package config

import (
	"strings"
	"time"
)

// FallbackOn names the aliases tried when an alias fails in a specific way.
// Unlike Model.Fallbacks they apply to failures that are not worth trying
// the general fallbacks for: a prompt too long for the model's context
// window goes to a larger-context alias; a content-filter refusal goes
// nowhere unless an alias is named (the provider's reason reaches the
// client).
type FallbackOn struct {
	ContextLength []string `yaml:"context_length" json:"context_length,omitempty"`
	ContentFilter []string `yaml:"content_filter" json:"content_filter,omitempty"`
}

// Timeouts bound an alias's calls. Zero means the default.
type Timeouts struct {
	// Total bounds a client request, every attempt and wait included
	// (default: server.request_timeout).
	Total Duration `yaml:"total" json:"total"`
	// Attempt bounds one non-streaming attempt (default: none beyond Total).
	// An attempt that runs out of it is a silent target: the request fails
	// over instead of retrying it.
	Attempt Duration `yaml:"attempt" json:"attempt"`
	// TTFT bounds the wait for a stream's first content (default 60s).
	TTFT Duration `yaml:"ttft" json:"ttft"`
	// StreamIdle bounds the gap between two stream events once content
	// flows (default 60s).
	StreamIdle Duration `yaml:"stream_idle" json:"stream_idle"`
	// Heartbeat is how often an SSE comment is sent while a stream waits for
	// its first content (default 10s).
	Heartbeat Duration `yaml:"heartbeat" json:"heartbeat"`
}

// Retry is an alias's retry policy.
type Retry struct {
	// MaxAttempts bounds the attempts of one client request across targets
	// and fallback aliases (default 5).
	MaxAttempts int `yaml:"max_attempts" json:"max_attempts,omitempty"`
	// PerTarget bounds the attempts on one target within a request
	// (default 2: one retry).
	PerTarget int     `yaml:"per_target" json:"per_target,omitempty"`
	Backoff   Backoff `yaml:"backoff" json:"backoff"`
	// MaxRetryAfter is the longest upstream Retry-After honoured by waiting
	// (default 10s); beyond it the request fails over instead.
	MaxRetryAfter Duration `yaml:"max_retry_after" json:"max_retry_after"`
	Budget        Budget   `yaml:"budget" json:"budget"`
}

// Backoff is exponential backoff with full jitter: the n-th wait is drawn
// uniformly from [0, min(Max, Base·2ⁿ)].
type Backoff struct {
	Base Duration `yaml:"base" json:"base"` // default 200ms
	Max  Duration `yaml:"max" json:"max"`   // default 5s
}

// Budget bounds the same-target retries (and hedges) a target receives
// to Ratio of its requests over a sliding Window, with at least
// MinRetries per window.
type Budget struct {
	Ratio      float64  `yaml:"ratio" json:"ratio,omitempty"`             // default 0.2
	Window     Duration `yaml:"window" json:"window"`                     // default 10s
	MinRetries int      `yaml:"min_retries" json:"min_retries,omitempty"` // default 3
}

// Breaker is the circuit breaker each target of the alias gets.
type Breaker struct {
	// ConsecutiveFailures opens the breaker (default 5).
	ConsecutiveFailures int `yaml:"consecutive_failures" json:"consecutive_failures,omitempty"`
	// FailureRatio opens the breaker when at least MinRequests calls in
	// Window failed at this ratio (default 0: off).
	FailureRatio float64  `yaml:"failure_ratio" json:"failure_ratio,omitempty"`
	MinRequests  int      `yaml:"min_requests" json:"min_requests,omitempty"` // default 20
	Window       Duration `yaml:"window" json:"window"`                       // default 30s
	// OpenFor is how long an open breaker skips its target before probing
	// (default 15s).
	OpenFor Duration `yaml:"open_for" json:"open_for"`
	// HalfOpenProbes is how many probes run at once while half-open, and how
	// many must succeed to close (default 1).
	HalfOpenProbes int `yaml:"half_open_probes" json:"half_open_probes,omitempty"`
}

// Hedge enables hedged non-streaming requests: after Delay without an
// answer a second attempt goes to another target and the first success
// wins. Delay is a duration ("300ms") or "p95" (the first target's
// observed 95th percentile latency). Empty means no hedging.
type Hedge struct {
	Delay string `yaml:"delay" json:"delay,omitempty"`
}

// Load-balancing policies.
const (
	BalanceWeighted         = "weighted"
	BalanceLeastOutstanding = "least_outstanding"
	BalancePeakEWMA         = "peak_ewma"
	// BalanceLeastLoaded prefers the target whose server reports the
	// shortest queue (providers' load_metrics), least outstanding without
	// fresh reports (see package route).
	BalanceLeastLoaded = "least_loaded"
	HedgeP95           = "p95"
)

var balances = []string{BalanceWeighted, BalanceLeastOutstanding, BalancePeakEWMA, BalanceLeastLoaded}

// Resilience defaults, applied where the policy is built (route) so that a
// zero field keeps meaning "the default".
const (
	DefaultMaxAttempts    = 5
	DefaultPerTarget      = 2
	DefaultBackoffBase    = 200 * time.Millisecond
	DefaultBackoffMax     = 5 * time.Second
	DefaultMaxRetryAfter  = 10 * time.Second
	DefaultBudgetRatio    = 0.2
	DefaultBudgetWindow   = 10 * time.Second
	DefaultBudgetMin      = 3
	DefaultTTFT           = 60 * time.Second
	DefaultStreamIdle     = 60 * time.Second
	DefaultHeartbeat      = 10 * time.Second
	DefaultBreakerFails   = 5
	DefaultBreakerMinReqs = 20
	DefaultBreakerWindow  = 30 * time.Second
	DefaultBreakerOpenFor = 15 * time.Second
	DefaultBreakerProbes  = 1
	DefaultBalance        = BalancePeakEWMA
)

// resilience validates the resilience fields of the model at path.
func (v *validator) resilience(path string, m Model, first map[string]int, aliases []string) {
	typed := func(p string, list []string) {
		seen := map[string]bool{}
		for k, fb := range list {
			fp := childIndex(p, k)
			switch _, ok := first[fb]; {
			case fb == "":
				v.add(fp, "a fallback names a model alias; this one is empty")
			case fb == m.Name:
				v.add(fp, "%q cannot fall back to itself", fb)
			case !ok:
				v.add(fp, "unknown model %q%s", fb, didYouMean(fb, aliases))
			case seen[fb]:
				v.add(fp, "%q is listed twice", fb)
			}
			seen[fb] = true
		}
	}
	typed(path+".fallback_on.context_length", m.FallbackOn.ContextLength)
	typed(path+".fallback_on.content_filter", m.FallbackOn.ContentFilter)

	t := m.Timeouts
	v.duration(path+".timeouts.total", t.Total)
	v.duration(path+".timeouts.attempt", t.Attempt)
	v.duration(path+".timeouts.ttft", t.TTFT)
	v.duration(path+".timeouts.stream_idle", t.StreamIdle)
	v.duration(path+".timeouts.heartbeat", t.Heartbeat)
	if t.Total > 0 && t.TTFT > t.Total {
		v.add(path+".timeouts.ttft", "ttft %s is longer than the total timeout %s", t.TTFT, t.Total)
	}

	r := m.Retry
	v.nonNegative(path+".retry.max_attempts", int64(r.MaxAttempts))
	v.nonNegative(path+".retry.per_target", int64(r.PerTarget))
	v.duration(path+".retry.backoff.base", r.Backoff.Base)
	v.duration(path+".retry.backoff.max", r.Backoff.Max)
	if r.Backoff.Max > 0 && r.Backoff.Base > r.Backoff.Max {
		v.add(path+".retry.backoff.base", "base %s is longer than max %s", r.Backoff.Base, r.Backoff.Max)
	}
	v.duration(path+".retry.max_retry_after", r.MaxRetryAfter)
	v.ratio(path+".retry.budget.ratio", r.Budget.Ratio)
	v.duration(path+".retry.budget.window", r.Budget.Window)
	v.nonNegative(path+".retry.budget.min_retries", int64(r.Budget.MinRetries))

	b := m.Breaker
	v.nonNegative(path+".breaker.consecutive_failures", int64(b.ConsecutiveFailures))
	v.ratio(path+".breaker.failure_ratio", b.FailureRatio)
	v.nonNegative(path+".breaker.min_requests", int64(b.MinRequests))
	v.duration(path+".breaker.window", b.Window)
	v.duration(path+".breaker.open_for", b.OpenFor)
	v.nonNegative(path+".breaker.half_open_probes", int64(b.HalfOpenProbes))

	v.oneOf(path+".balance", m.Balance, balances)

	if d := m.Hedge.Delay; d != "" && d != HedgeP95 {
		if pd, err := parseDuration(d); err != nil || pd == 0 {
			v.add(path+".hedge.delay", "%q is neither a positive duration (\"300ms\") nor %q", d, HedgeP95)
		}
	}
}

func (v *validator) ratio(path string, r float64) {
	if !(r >= 0 && r <= 1) {
		v.add(path, "a ratio is from 0 to 1, got %g", r)
	}
}

// HedgeDelay returns the fixed hedge delay, or zero with p95 true for
// "p95", or zero and false when hedging is off. Validate reports a
// malformed delay.
func (h Hedge) HedgeDelay() (d time.Duration, p95 bool) {
	s := strings.TrimSpace(h.Delay)
	if s == HedgeP95 {
		return 0, true
	}
	pd, err := parseDuration(s)
	if err != nil {
		return 0, false
	}
	return pd.D(), false
}
