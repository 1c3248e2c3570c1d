package route

import (
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/resilience"
)

// Policy is an alias's resilience policy with every default applied.
type Policy struct {
	Total, Attempt, TTFT, StreamIdle, Heartbeat time.Duration

	MaxAttempts   int
	PerTarget     int
	BackoffBase   time.Duration
	BackoffMax    time.Duration
	MaxRetryAfter time.Duration

	// HedgeDelay > 0 or HedgeP95 enables hedging of non-streaming calls.
	HedgeDelay time.Duration
	HedgeP95   bool

	// FallbackOnContextLength and FallbackOnContentFilter are the typed
	// fallback aliases.
	FallbackOnContextLength []string
	FallbackOnContentFilter []string
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func policyOf(m config.Model) Policy {
	t, r := m.Timeouts, m.Retry
	p := Policy{
		Total:                   t.Total.D(),
		Attempt:                 t.Attempt.D(),
		TTFT:                    or(t.TTFT.D(), config.DefaultTTFT),
		StreamIdle:              or(t.StreamIdle.D(), config.DefaultStreamIdle),
		Heartbeat:               or(t.Heartbeat.D(), config.DefaultHeartbeat),
		MaxAttempts:             or(r.MaxAttempts, config.DefaultMaxAttempts),
		PerTarget:               or(r.PerTarget, config.DefaultPerTarget),
		BackoffBase:             or(r.Backoff.Base.D(), config.DefaultBackoffBase),
		BackoffMax:              or(r.Backoff.Max.D(), config.DefaultBackoffMax),
		MaxRetryAfter:           or(r.MaxRetryAfter.D(), config.DefaultMaxRetryAfter),
		FallbackOnContextLength: m.FallbackOn.ContextLength,
		FallbackOnContentFilter: m.FallbackOn.ContentFilter,
	}
	p.HedgeDelay, p.HedgeP95 = m.Hedge.HedgeDelay()
	return p
}

func breakerOf(b config.Breaker) resilience.BreakerConfig {
	return resilience.BreakerConfig{
		ConsecutiveFailures: or(b.ConsecutiveFailures, config.DefaultBreakerFails),
		FailureRatio:        b.FailureRatio,
		MinRequests:         or(b.MinRequests, config.DefaultBreakerMinReqs),
		Window:              or(b.Window.D(), config.DefaultBreakerWindow),
		OpenFor:             or(b.OpenFor.D(), config.DefaultBreakerOpenFor),
		HalfOpenProbes:      or(b.HalfOpenProbes, config.DefaultBreakerProbes),
	}
}

type budgetConfig struct {
	ratio  float64
	min    int
	window time.Duration
}

func budgetOf(b config.Budget) budgetConfig {
	return budgetConfig{
		ratio:  or(b.Ratio, config.DefaultBudgetRatio),
		min:    or(b.MinRetries, config.DefaultBudgetMin),
		window: or(b.Window.D(), config.DefaultBudgetWindow),
	}
}

// Health is the state one target keeps across requests and reloads: its
// breaker, its retry budget and its load. It is safe for concurrent use.
type Health struct {
	Breaker *resilience.Breaker
	Budget  *resilience.Budget
	Load    *resilience.Load

	client     llm.Provider // the provider the state was learned from
	breakerCfg resilience.BreakerConfig
	budgetCfg  budgetConfig
}

func newHealth(client llm.Provider, bc resilience.BreakerConfig, gc budgetConfig) *Health {
	return &Health{
		client:     client,
		Breaker:    resilience.NewBreaker(bc),
		Budget:     resilience.NewBudget(gc.ratio, gc.min, gc.window),
		Load:       resilience.NewLoad(0),
		breakerCfg: bc,
		budgetCfg:  gc,
	}
}
