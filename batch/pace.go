package batch

import (
	"context"
	"sync"
	"time"
)

// pacer bounds the lines a process has in flight by what the gateway
// takes of them at once, up to Options.Workers. A line runs only on a
// target's spare capacity (package shed, SpareOnly): when there is none
// it waits aside in the gateway, holding its request's resources (its
// place under the process's max_inflight, its key's concurrency) and
// costing the host its work, for nothing. So, as TCP's congestion
// control, the pacer starts at one line and opens by one line for each
// line that went straight through (no slower than twice the fastest line
// seen lately), doubling each round while the gateway takes them; closes
// by one for each line that waited, and halves on a refusal that passes
// (Result.Busy). A batch thus ramps up to what is spare rather than
// arriving at once, and keeps about as many lines waiting in the gateway
// as the spare capacity serves at once. It is safe for concurrent use.
type pacer struct {
	mu       sync.Mutex
	limit    float64
	max      float64
	inflight int
	wake     chan struct{} // closed and replaced when a line returns

	// fastest is the shortest line lately: the least of this window of
	// 256 lines and the last.
	fastest, cur time.Duration
	n            int
}

func newPacer(max int) *pacer {
	return &pacer{limit: 1, max: float64(max), wake: make(chan struct{})}
}

// acquire waits for room for one line.
func (p *pacer) acquire(ctx context.Context) error {
	for {
		p.mu.Lock()
		if float64(p.inflight) < p.limit {
			p.inflight++
			p.mu.Unlock()
			return nil
		}
		wake := p.wake
		p.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release ends a line that took took and ended with r. Only answers
// (2xx) are timed: an error comes back fast without a call.
func (p *pacer) release(took time.Duration, r Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight--
	switch {
	case r.Busy:
		p.limit = max(p.limit/2, 1)
	case !r.OK():
	case p.fast(took):
		p.limit = min(p.limit+1, p.max)
	default:
		p.limit = max(p.limit-1, 1)
	}
	close(p.wake)
	p.wake = make(chan struct{})
}

// fast records a line's time and reports whether it went straight
// through: no slower than twice the fastest line lately.
func (p *pacer) fast(took time.Duration) bool {
	if p.cur == 0 || took < p.cur {
		p.cur = took
	}
	if p.n++; p.n >= 256 {
		p.fastest, p.cur, p.n = p.cur, 0, 0
	}
	best := p.cur
	if p.fastest > 0 && p.fastest < best {
		best = p.fastest
	}
	return took <= 2*best
}
