package limit

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/bulwark-ai/bulwark/resilience"
)

// FallbackOptions configure a Fallback. The zero value is valid.
type FallbackOptions struct {
	// Share is the part of each global limit one replica enforces locally
	// while the shared limiter is unreachable, typically 1/replicas; 0
	// means 1. A limit that is not zero stays at least 1.
	Share float64
	// Timeout bounds each call to the shared limiter; 0 means 100ms.
	Timeout time.Duration
	// ProbeMin and ProbeMax bound the backoff between probes of the shared
	// limiter while degraded; 0 means 250ms and 5s.
	ProbeMin, ProbeMax time.Duration
	// Lease is the local limiter's lease (see MemoryOptions.Lease).
	Lease time.Duration
	// Now is the local limiter's clock; nil means time.Now.
	Now func() time.Time
	// OnChange, if set, is called when the Fallback becomes degraded (with
	// the error that made it so) and when it recovers (with nil), for logs
	// and metrics. It must not block.
	OnChange func(degraded bool, err error)
}

// Pinger is the optional capability of a shared limiter to check that it
// is reachable without touching any limit. Fallback probes with it if the
// shared limiter has it, and with an empty Reserve otherwise.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Fallback keeps a replica serving when its shared limiter (Redis) is
// unreachable: it calls the shared limiter with a short timeout and, when a
// call fails, serves from a local Memory limiter that enforces Share of
// each limit, reports Degraded, and probes the shared limiter with
// exponential backoff until it answers, then uses it again.
//
// Reservations are settled by the limiter that made them. Reservations held
// in the shared limiter when it became unreachable are reclaimed there by
// their lease.
//
// A Fallback is safe for concurrent use. Close stops its probe goroutine.
type Fallback struct {
	shared Limiter
	local  *Memory
	o      FallbackOptions
	outage *resilience.Outage
}

var _ Limiter = (*Fallback)(nil)

// NewFallback returns a Fallback over shared.
func NewFallback(shared Limiter, o FallbackOptions) *Fallback {
	if o.Share <= 0 || o.Share > 1 {
		o.Share = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 100 * time.Millisecond
	}
	f := &Fallback{
		shared: shared,
		local:  NewMemory(MemoryOptions{Now: o.Now, Lease: o.Lease}),
		o:      o,
	}
	f.outage = resilience.NewOutage(f.ping, resilience.OutageOptions{
		Timeout: o.Timeout, ProbeMin: o.ProbeMin, ProbeMax: o.ProbeMax, OnChange: o.OnChange,
	})
	return f
}

// Degraded reports whether the Fallback is serving from its local limiter.
// The readiness check reports it.
func (f *Fallback) Degraded() bool { return f.outage.Degraded() }

// Reserve implements Limiter.
func (f *Fallback) Reserve(ctx context.Context, scopes []Scope, tokens int) (Reservation, Decision, error) {
	if err := Validate(scopes, tokens); err != nil {
		return nil, Decision{}, err
	}
	if !f.outage.Degraded() {
		cctx, cancel := context.WithTimeout(ctx, f.o.Timeout)
		r, d, err := f.shared.Reserve(cctx, scopes, tokens)
		cancel()
		switch {
		case err == nil:
			return r, d, nil
		case ctx.Err() != nil:
			return nil, Decision{}, ctx.Err() // the caller gave up; say nothing of the limiter
		case errors.Is(err, ErrInvalid):
			return nil, Decision{}, err
		}
		f.outage.Begin(err, nil)
	}
	return f.local.Reserve(ctx, f.scale(scopes), tokens)
}

// scale returns scopes with every limit cut to the local share.
func (f *Fallback) scale(scopes []Scope) []Scope {
	if f.o.Share == 1 {
		return scopes
	}
	out := make([]Scope, len(scopes))
	for i, s := range scopes {
		s.Limits = Limits{
			RequestsPerMinute: share(s.Limits.RequestsPerMinute, f.o.Share),
			TokensPerMinute:   share(s.Limits.TokensPerMinute, f.o.Share),
			Concurrent:        share(s.Limits.Concurrent, f.o.Share),
		}
		out[i] = s
	}
	return out
}

func share(limit int, s float64) int {
	if limit == 0 {
		return 0
	}
	return max(int(math.Ceil(float64(limit)*s)), 1)
}

func (f *Fallback) ping(ctx context.Context) error {
	if p, ok := f.shared.(Pinger); ok {
		return p.Ping(ctx)
	}
	r, _, err := f.shared.Reserve(ctx, nil, 0)
	if err != nil {
		return err
	}
	return r.Cancel(ctx)
}

// Close stops probing and waits for the probe goroutine to end. The
// Fallback keeps serving (from whichever limiter it was using) after Close.
func (f *Fallback) Close() error { return f.outage.Close() }
