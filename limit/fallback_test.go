package limit_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/limit"
	"github.com/bulwark-ai/bulwark/limit/limittest"
)

// flaky is a shared limiter that can be taken down (fails at once) or made
// to hang (answers only when its context ends).
type flaky struct {
	limit.Limiter
	down, hang atomic.Bool
	calls      atomic.Int64
}

var errDown = errors.New("connection refused")

func (f *flaky) Reserve(ctx context.Context, scopes []limit.Scope, tokens int) (limit.Reservation, limit.Decision, error) {
	f.calls.Add(1)
	if f.hang.Load() {
		<-ctx.Done()
		return nil, limit.Decision{}, ctx.Err()
	}
	if f.down.Load() {
		return nil, limit.Decision{}, errDown
	}
	return f.Limiter.Reserve(ctx, scopes, tokens)
}

type changes struct {
	mu  sync.Mutex
	got []bool
}

func (c *changes) record(degraded bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, degraded)
}

func (c *changes) list() []bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]bool(nil), c.got...)
}

func TestFallbackDegradesAndRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := &flaky{Limiter: limit.NewMemory(limit.MemoryOptions{})}
		var ch changes
		f := limit.NewFallback(shared, limit.FallbackOptions{
			Share:    1.0 / 3,
			ProbeMin: time.Second,
			ProbeMax: 4 * time.Second,
			OnChange: ch.record,
		})
		defer f.Close()
		ctx := context.Background()
		s := []limit.Scope{{Kind: limit.ScopeKey, ID: "k", Limits: limit.Limits{RequestsPerMinute: 60}}}
		reserve := func() bool {
			t.Helper()
			r, d, err := f.Reserve(ctx, s, 0)
			if err != nil {
				t.Fatalf("Reserve: %v", err)
			}
			if d.Allowed {
				if err := r.Commit(ctx, 0); err != nil {
					t.Fatal(err)
				}
			}
			return d.Allowed
		}

		if !reserve() || f.Degraded() || shared.calls.Load() != 1 {
			t.Fatalf("healthy: degraded %v, %d shared calls", f.Degraded(), shared.calls.Load())
		}

		shared.down.Store(true)
		allowed := 0
		for range 30 {
			if reserve() {
				allowed++
			}
		}
		if !f.Degraded() {
			t.Fatal("not degraded with the shared limiter down")
		}
		// The request admitted through the shared limiter a moment ago
		// counts against the local share (mirroring).
		if allowed != 19 {
			t.Errorf("%d allowed locally; want 19, a third of 60 less the one admitted before", allowed)
		}
		if n := shared.calls.Load(); n != 2 {
			t.Errorf("%d calls to the shared limiter; want 2: degraded calls go local", n)
		}

		// Probes back off: 1s, 2s, 4s, 4s.
		time.Sleep(11*time.Second + time.Millisecond)
		synctest.Wait()
		if n := shared.calls.Load(); n != 6 {
			t.Errorf("%d calls after 11s degraded; want 2 + 4 probes", n)
		}

		shared.down.Store(false)
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if f.Degraded() {
			t.Fatal("still degraded after the shared limiter came back")
		}
		before := shared.calls.Load()
		reserve()
		if shared.calls.Load() != before+1 {
			t.Error("recovered Fallback did not use the shared limiter")
		}
		if got := ch.list(); len(got) != 2 || !got[0] || got[1] {
			t.Errorf("OnChange calls %v; want [true false]", got)
		}
	})
}

func TestFallbackTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := &flaky{Limiter: limit.NewMemory(limit.MemoryOptions{})}
		shared.hang.Store(true)
		f := limit.NewFallback(shared, limit.FallbackOptions{Timeout: 50 * time.Millisecond})
		defer f.Close()
		start := time.Now()
		_, d, err := f.Reserve(context.Background(), nil, 0)
		if err != nil || !d.Allowed {
			t.Fatalf("Reserve = %+v, %v; want served locally", d, err)
		}
		if el := time.Since(start); el != 50*time.Millisecond {
			t.Errorf("a hanging shared limiter cost %v; want the 50ms timeout", el)
		}
		if !f.Degraded() {
			t.Error("not degraded after a timeout")
		}
	})
}

// Neither the caller giving up nor a malformed call is an outage.
func TestFallbackNotAnOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := &flaky{Limiter: limit.NewMemory(limit.MemoryOptions{})}
		shared.hang.Store(true)
		f := limit.NewFallback(shared, limit.FallbackOptions{Timeout: time.Second})
		defer f.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if _, _, err := f.Reserve(ctx, nil, 0); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Reserve with an expiring context = %v; want DeadlineExceeded", err)
		}
		if _, _, err := f.Reserve(context.Background(), nil, -1); !errors.Is(err, limit.ErrInvalid) {
			t.Errorf("Reserve(-1 tokens) = %v; want ErrInvalid", err)
		}
		if f.Degraded() {
			t.Error("degraded by a caller's deadline or mistake")
		}
	})
}

func TestFallbackClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := &flaky{Limiter: limit.NewMemory(limit.MemoryOptions{})}
		shared.down.Store(true)
		f := limit.NewFallback(shared, limit.FallbackOptions{})
		if _, _, err := f.Reserve(context.Background(), nil, 0); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		// synctest.Test fails if the probe goroutine outlived Close.
	})
}

func BenchmarkMemoryReserveCommit(b *testing.B) {
	m := limit.NewMemory(limit.MemoryOptions{})
	s := []limit.Scope{
		{Kind: limit.ScopeKey, ID: "k", Limits: limit.Limits{RequestsPerMinute: 1 << 30, TokensPerMinute: 1 << 40, Concurrent: 1 << 20}},
		{Kind: limit.ScopeTenant, ID: "t", Limits: limit.Limits{RequestsPerMinute: 1 << 30, TokensPerMinute: 1 << 40}},
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, d, err := m.Reserve(ctx, s, 100)
			if err != nil || !d.Allowed {
				b.Fatalf("Reserve = %+v, %v", d, err)
			}
			if err := r.Commit(ctx, 50); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A Fallback whose shared limiter is down is its local limiter, and that
// passes the suite too.
func TestFallbackDegradedConformance(t *testing.T) {
	limittest.Run(t, func(t *testing.T, cfg limittest.Config) limit.Limiter {
		shared := &flaky{Limiter: limit.NewMemory(limit.MemoryOptions{})}
		shared.down.Store(true)
		f := limit.NewFallback(shared, limit.FallbackOptions{Now: cfg.Now, Lease: cfg.Lease, ProbeMin: time.Hour})
		t.Cleanup(func() {
			if !f.Degraded() {
				t.Error("not degraded")
			}
			f.Close()
		})
		return f
	})
}

// Probe finds the shared limiter down before any request has: the
// Fallback serves locally from then on; a healthy one stays shared, and a
// probe canceled by its caller changes nothing.
func TestFallbackProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := &flaky{Limiter: limit.NewMemory(limit.MemoryOptions{})}
		f := limit.NewFallback(shared, limit.FallbackOptions{})
		defer f.Close()
		if err := f.Probe(t.Context()); err != nil || f.Degraded() {
			t.Fatalf("Probe of a healthy limiter = %v, degraded %v", err, f.Degraded())
		}
		shared.hang.Store(true)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := f.Probe(ctx); err == nil || f.Degraded() {
			t.Fatalf("canceled Probe = %v, degraded %v; want an error and no outage", err, f.Degraded())
		}
		shared.hang.Store(false)
		shared.down.Store(true)
		if err := f.Probe(t.Context()); !errors.Is(err, errDown) || !f.Degraded() {
			t.Fatalf("Probe of a limiter that is down = %v, degraded %v; want its error and degraded", err, f.Degraded())
		}
	})
}
