package resilience

import (
	"sync"
	"time"
)

// Budget bounds retries to a ratio of requests over a sliding window, with
// a floor so that a quiet target may still be retried. The window slides by
// weighting the previous window's counts by how much of it still overlaps.
// It is safe for concurrent use.
type Budget struct {
	ratio  float64
	min    int
	window time.Duration

	mu        sync.Mutex
	start     time.Time // of the current window
	reqs      int
	retries   int
	prevReqs  int
	prevRetry int
}

// NewBudget returns a budget allowing ratio·requests retries (at least
// min) per window.
func NewBudget(ratio float64, min int, window time.Duration) *Budget {
	return &Budget{ratio: ratio, min: min, window: window}
}

// roll advances the windows to now. Requires b.mu.
func (b *Budget) roll(now time.Time) float64 {
	if b.start.IsZero() {
		b.start = now
	}
	if el := now.Sub(b.start); el >= b.window {
		if el >= 2*b.window {
			b.prevReqs, b.prevRetry = 0, 0
		} else {
			b.prevReqs, b.prevRetry = b.reqs, b.retries
		}
		b.reqs, b.retries = 0, 0
		b.start = now
	}
	return 1 - float64(now.Sub(b.start))/float64(b.window)
}

// Request records a first attempt on the target.
func (b *Budget) Request() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.roll(time.Now())
	b.reqs++
}

// TryRetry takes a retry from the budget; false means the budget is spent
// and the caller must not retry this target.
func (b *Budget) TryRetry() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.roll(time.Now())
	reqs := float64(b.reqs) + w*float64(b.prevReqs)
	retries := float64(b.retries) + w*float64(b.prevRetry)
	if retries+1 > max(float64(b.min), b.ratio*reqs) {
		return false
	}
	b.retries++
	return true
}
