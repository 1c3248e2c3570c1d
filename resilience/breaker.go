package resilience

import (
	"sync"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
)

// BreakerConfig configures a Breaker. Zero fields disable their trigger.
type BreakerConfig struct {
	ConsecutiveFailures int
	FailureRatio        float64
	MinRequests         int
	Window              time.Duration
	OpenFor             time.Duration
	HalfOpenProbes      int
}

// Breaker is a circuit breaker for one target. It opens on
// ConsecutiveFailures failures in a row or on a failure ratio over a
// window, stays open for OpenFor, then lets HalfOpenProbes probes through
// at once; as many successes close it, a failure opens it again. It is
// safe for concurrent use.
type Breaker struct {
	cfg BreakerConfig
	cb  circuitbreaker.CircuitBreaker[any]

	mu          sync.Mutex
	consecutive int
}

// NewBreaker returns a closed breaker.
func NewBreaker(c BreakerConfig) *Breaker {
	c.HalfOpenProbes = max(c.HalfOpenProbes, 1)
	b := circuitbreaker.NewBuilder[any]().
		WithDelay(c.OpenFor).
		WithSuccessThreshold(uint(c.HalfOpenProbes))
	if c.FailureRatio > 0 {
		b = b.WithFailureRateThreshold(c.FailureRatio, uint(max(c.MinRequests, 1)), c.Window)
	} else if c.ConsecutiveFailures > 0 {
		// n failures out of the last n executions: n in a row.
		b = b.WithFailureThreshold(uint(c.ConsecutiveFailures))
	}
	return &Breaker{cfg: c, cb: b.Build()}
}

// Config returns the breaker's configuration.
func (b *Breaker) Config() BreakerConfig { return b.cfg }

// Ready reports, without taking a permit, whether Allow may succeed: the
// breaker is closed, half-open, or open with its delay elapsed.
func (b *Breaker) Ready() bool {
	return !b.cb.IsOpen() || b.cb.RemainingDelay() <= 0
}

// Allow takes a permit for one call. Every call that got a permit must end
// with Success or Failure.
func (b *Breaker) Allow() bool { return b.cb.TryAcquirePermit() }

// Success records a call the target answered (even with an error that is
// not the target's fault).
func (b *Breaker) Success() {
	b.mu.Lock()
	b.consecutive = 0
	b.mu.Unlock()
	b.cb.RecordSuccess()
}

// Failure records a call the target failed.
func (b *Breaker) Failure() {
	b.mu.Lock()
	b.consecutive++
	// failsafe counts consecutive failures itself unless it counts a ratio.
	trip := b.cfg.FailureRatio > 0 && b.cfg.ConsecutiveFailures > 0 && b.consecutive >= b.cfg.ConsecutiveFailures
	if trip {
		b.consecutive = 0
	}
	b.mu.Unlock()
	b.cb.RecordFailure()
	if trip && !b.cb.IsOpen() {
		b.cb.Open()
	}
}

// BreakerState is a breaker's state for the admin API.
type BreakerState struct {
	State string `json:"state"` // closed, open or half-open
	// RemainingOpen is how long an open breaker still skips its target.
	RemainingOpen time.Duration `json:"remaining_open_ns"`
	Failures      uint          `json:"failures"`
	Successes     uint          `json:"successes"`
}

// State returns the breaker's state.
func (b *Breaker) State() BreakerState {
	m := b.cb.Metrics()
	s := BreakerState{Failures: m.Failures(), Successes: m.Successes()}
	switch b.cb.State() {
	case circuitbreaker.OpenState:
		s.State, s.RemainingOpen = "open", max(b.cb.RemainingDelay(), 0)
	case circuitbreaker.HalfOpenState:
		s.State = "half-open"
	default:
		s.State = "closed"
	}
	return s
}

// LateFailure records a failure discovered after the call's permit was
// returned (a stream that broke after its first content). It counts only
// while the breaker is closed, so that it cannot release a half-open probe
// permit nobody holds.
func (b *Breaker) LateFailure() {
	if b.cb.IsClosed() {
		b.Failure()
	}
}
