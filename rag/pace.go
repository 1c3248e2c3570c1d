package rag

import (
	"context"
	"sync"
)

// pacer bounds ingestion's embedding calls in flight to one model by
// additive increase, multiplicative decrease (as TCP's congestion
// control): one more call a round of calls answered, half as many after a
// refusal that passes (Busy). The gateway's adaptive limit and priority
// queue protect interactive traffic from ingestion inside Bulwark; the
// pacer keeps ingestion from holding all of an embedding model's capacity
// at the model, where Bulwark's queue cannot reorder anything, and backs
// off hard when the model pushes back, so a client's request finds room.
// It is safe for concurrent use.
type pacer struct {
	mu       sync.Mutex
	limit    float64
	max      float64
	inflight int
	wake     chan struct{} // closed and replaced when a call returns
}

func newPacer(max int) *pacer {
	return &pacer{limit: 1, max: float64(max), wake: make(chan struct{})}
}

// acquire waits for room for one call.
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

// release ends a call: busy when the model refused it for capacity.
func (p *pacer) release(busy bool) {
	p.mu.Lock()
	p.inflight--
	if busy {
		p.limit = max(p.limit/2, 1)
	} else {
		p.limit = min(p.limit+1/p.limit, p.max)
	}
	close(p.wake)
	p.wake = make(chan struct{})
	p.mu.Unlock()
}

// pacerFor returns the pacer of an embedding model.
func (s *Service) pacerFor(model string) *pacer {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pacers[model]
	if !ok {
		p = newPacer(s.opt.Workers)
		s.pacers[model] = p
	}
	return p
}
