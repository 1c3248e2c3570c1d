package route

import (
	"sync/atomic"
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

	// Recovery is what a stream that breaks after its first content does
	// (config.StreamRecovery: off, or continue on a target that continues
	// a prefix).
	Recovery config.StreamRecovery
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
		Recovery:                m.StreamRecovery,
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
// breaker, its retry budget, its cooldown and its load. It is safe for
// concurrent use.
type Health struct {
	Breaker *resilience.Breaker
	Budget  *resilience.Budget
	// Cooldown runs while the target's upstream asked, with a Retry-After
	// on a rate-limited or overloaded answer, to be left alone: the
	// gateway's attempt loop then prefers the alias's other targets.
	Cooldown *resilience.Cooldown
	Load     *resilience.Load

	client     llm.Provider // the provider the state was learned from
	breakerCfg resilience.BreakerConfig
	budgetCfg  budgetConfig
	// upstream reports the target's server-side load (UseLoad).
	upstream atomic.Pointer[LoadSource]
	// prefillRefused is set once the target answered a prefill to continue
	// with a 400: it is not sent one again (RefusePrefill).
	prefillRefused atomic.Bool
}

// RefusePrefill remembers that the target refused a prefill to continue
// (a 400): broken streams are no longer continued on it. It lasts as long
// as the Health, so a reload that rebuilds the provider forgets it.
func (h *Health) RefusePrefill() { h.prefillRefused.Store(true) }

// PrefillRefused reports whether RefusePrefill was called.
func (h *Health) PrefillRefused() bool { return h.prefillRefused.Load() }

func newHealth(client llm.Provider, bc resilience.BreakerConfig, gc budgetConfig) *Health {
	return &Health{
		client:     client,
		Breaker:    resilience.NewBreaker(bc),
		Budget:     resilience.NewBudget(gc.ratio, gc.min, gc.window),
		Cooldown:   &resilience.Cooldown{},
		Load:       resilience.NewLoad(0),
		breakerCfg: bc,
		budgetCfg:  gc,
	}
}

// UpstreamLoad is the load the server behind a target reports about
// itself (a vLLM server's scheduler and KV cache).
type UpstreamLoad struct {
	// Waiting are the requests queued at the server, Running those in
	// service there.
	Waiting, Running float64
	// KVCache is the share of the server's KV cache in use, from 0 to 1;
	// meaningful only when HasKVCache.
	KVCache    float64
	HasKVCache bool
}

// LoadSource reports the load the servers behind targets say they carry.
// The least_loaded policy asks it on the request path, so it must answer
// from memory, at once, and be safe for concurrent use; ok is false when
// it has no fresh report for the target.
type LoadSource interface {
	UpstreamLoad(provider, model string) (l UpstreamLoad, ok bool)
}

// KVCacheFull is the KV-cache usage above which least_loaded avoids a
// target while another has room: a server that full preempts or queues
// what it gets next.
const KVCacheFull = 0.9

// UseLoad makes the least_loaded routes of t read the load src reports
// (nil: none). Call it before t is in use; it sets the source of every
// target's Health, which a later Table may share.
func (t *Table) UseLoad(src LoadSource) {
	for _, h := range t.health {
		if src == nil {
			h.upstream.Store(nil)
			continue
		}
		h.upstream.Store(&src)
	}
}

// Upstream returns the fresh load the server behind t reports; ok is false
// when none is known.
func (t *Target) Upstream() (UpstreamLoad, bool) {
	if t.Health == nil {
		return UpstreamLoad{}, false
	}
	src := t.Health.upstream.Load()
	if src == nil {
		return UpstreamLoad{}, false
	}
	return (*src).UpstreamLoad(t.Provider, t.Model)
}

// leastLoaded is the least_loaded policy over cands (at least two):
//
//  1. targets whose fresh KV-cache usage is above KVCacheFull are left out,
//     unless every candidate is;
//  2. when every remaining candidate has a fresh report, the one with the
//     fewest waiting plus running requests at its server, plus the calls
//     this replica has outstanding to it (they may not show in a report
//     up to an interval old), wins; ties are broken at random;
//  3. otherwise, least outstanding: the better of two random candidates.
func leastLoaded(cands []*Target, rnd func(n int) int) *Target {
	loads := make([]UpstreamLoad, len(cands))
	fresh := make([]bool, len(cands))
	roomy := 0
	for i, t := range cands {
		loads[i], fresh[i] = t.Upstream()
		if !full(loads[i], fresh[i]) {
			roomy++
		}
	}
	keep := cands
	if roomy > 0 && roomy < len(cands) {
		keep = make([]*Target, 0, roomy)
		kl, kf := make([]UpstreamLoad, 0, roomy), make([]bool, 0, roomy)
		for i, t := range cands {
			if !full(loads[i], fresh[i]) {
				keep, kl, kf = append(keep, t), append(kl, loads[i]), append(kf, fresh[i])
			}
		}
		loads, fresh = kl, kf
	}
	if len(keep) == 1 {
		return keep[0]
	}
	for _, f := range fresh {
		if !f {
			return leastOutstanding(keep, rnd)
		}
	}
	best, ties := -1, 0
	var bestCost float64
	for i, t := range keep {
		c := loads[i].Waiting + loads[i].Running + float64(outstanding(t))
		switch {
		case best < 0 || c < bestCost:
			best, bestCost, ties = i, c, 1
		case c == bestCost:
			// Reservoir sampling: each tied target wins with equal odds.
			ties++
			if rnd(ties) == 0 {
				best = i
			}
		}
	}
	return keep[best]
}

func full(l UpstreamLoad, fresh bool) bool {
	return fresh && l.HasKVCache && l.KVCache > KVCacheFull
}

func outstanding(t *Target) int64 {
	if t.Health == nil {
		return 0
	}
	return t.Health.Load.Outstanding()
}

// leastOutstanding is the power of two choices over cands (at least two):
// two distinct random candidates, the one with fewer outstanding calls
// wins (ties go to the first drawn).
func leastOutstanding(cands []*Target, rnd func(n int) int) *Target {
	i := rnd(len(cands))
	j := rnd(len(cands) - 1)
	if j >= i {
		j++
	}
	if outstanding(cands[i]) <= outstanding(cands[j]) {
		return cands[i]
	}
	return cands[j]
}
