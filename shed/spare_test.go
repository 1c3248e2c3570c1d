package shed

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// A spare-only request takes a permit while the limit, less the reserve
// and a headroom, has room, and otherwise waits aside until a permit
// comes back, without joining the queue.
func TestSpareOnlyLeavesHeadroom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{})
		// 20 permits, 16 outside the reserve, 2 of them headroom: spare
		// work may bring the calls in flight to 14.
		l := c.Configure("t", Config{Initial: 20, Max: 20, CriticalReserve: 0.2})
		spare := SpareOnly(context.Background())
		var rels []func(Result)
		for range 10 {
			rels = append(rels, mustAcquire(t, l, Request{}))
		}
		for range 4 {
			rel, err := l.Acquire(spare, Request{Class: Batch})
			if err != nil {
				t.Fatalf("spare-only request with room: %v", err)
			}
			rels = append(rels, rel)
		}
		got, failed := make(chan func(Result), 1), make(chan error, 1)
		hold(t, spare, l, Request{Class: Batch}, got, failed)
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("a spare-only request took the headroom")
		}
		if s := l.State(); s.Queued["batch"] != 0 {
			t.Fatalf("queued = %v: a spare-only request joined the queue", s.Queued)
		}
		// The headroom is the others' at once.
		for range 2 {
			rels = append(rels, mustAcquire(t, l, Request{}))
		}
		// Permits come back: the spare waiter gets one once the calls in
		// flight are under the spare room again.
		for _, r := range rels[:2] {
			r(Result{Ignore: true})
		}
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("spare-only granted at 14 in flight")
		}
		rels[2](Result{Ignore: true})
		synctest.Wait()
		if len(got) != 1 {
			t.Fatal("spare-only not granted when room came back")
		}
		(<-got)(Result{Ignore: true})
		for _, r := range rels[3:] {
			r(Result{Ignore: true})
		}
		if s := l.State(); s.Inflight != 0 {
			t.Fatalf("inflight = %d after every release", s.Inflight)
		}
	})
}

// A waiter of any class goes before spare work: a permit that comes back
// goes to it, and spare work waits while anyone queues.
func TestSpareOnlyYieldsToWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{})
		l := c.Configure("t", Config{Initial: 4, Max: 4, CriticalReserve: -1})
		spare := SpareOnly(context.Background())
		var rels []func(Result)
		for range 4 {
			rels = append(rels, mustAcquire(t, l, Request{}))
		}
		sGot, sFailed := make(chan func(Result), 1), make(chan error, 1)
		hold(t, spare, l, Request{Class: Batch}, sGot, sFailed)
		synctest.Wait()
		got, failed := make(chan func(Result), 2), make(chan error, 2)
		hold(t, context.Background(), l, Request{Class: Batch}, got, failed)
		synctest.Wait()
		rels[0](Result{Ignore: true})
		synctest.Wait()
		if len(got) != 1 || len(sGot) != 0 {
			t.Fatalf("queued batch granted %d, spare-only %d: the queued one goes first", len(got), len(sGot))
		}
		(<-got)(Result{Ignore: true})
		synctest.Wait()
		// 3 in flight, limit 4, headroom 1: no spare room yet.
		if len(sGot) != 0 {
			t.Fatal("spare-only took the headroom")
		}
		rels[1](Result{Ignore: true})
		synctest.Wait()
		if len(sGot) != 1 {
			t.Fatal("spare-only not granted at 2 in flight of 4")
		}
		(<-sGot)(Result{Ignore: true})
		for _, r := range rels[2:] {
			r(Result{Ignore: true})
		}
		if len(failed)+len(sFailed) != 0 {
			t.Fatal("a request failed")
		}
	})
}

// Latency above its baseline, or an overload answer, closes spare room
// while other requests are in flight, until a call within tolerance is
// learned.
func TestSpareOnlyWaitsOutCongestion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{})
		l := c.Configure("t", Config{Initial: 10, Max: 10, CriticalReserve: -1})
		teach(l, 100*time.Millisecond, 20)
		spare := SpareOnly(context.Background())
		other := mustAcquire(t, l, Request{})
		l.mu.Lock()
		l.learn(Result{Latency: 300 * time.Millisecond}, time.Now(), time.Now())
		l.mu.Unlock()
		got, failed := make(chan func(Result), 1), make(chan error, 1)
		hold(t, spare, l, Request{Class: Batch}, got, failed)
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("spare-only granted while latency is 1.2x its baseline")
		}
		// Latency back at its baseline: the next permit that comes back
		// lets it in.
		teach(l, 50*time.Millisecond, 30)
		rel := mustAcquire(t, l, Request{})
		rel(Result{Latency: 50 * time.Millisecond})
		synctest.Wait()
		if len(got) != 1 {
			t.Fatal("spare-only not granted once latency came back")
		}
		(<-got)(Result{Latency: 50 * time.Millisecond})

		rel = mustAcquire(t, l, Request{})
		rel(Result{Latency: 50 * time.Millisecond, Overloaded: true})
		if _, err := l.Acquire(withTimeout(t, spare, time.Second), Request{Class: Batch}); err == nil {
			t.Fatal("spare-only granted after an overload answer")
		}
		// With nothing in flight, nothing would teach the limit that the
		// congestion passed: one spare-only call at a time goes.
		hold(t, spare, l, Request{Class: Batch}, got, failed)
		synctest.Wait()
		other(Result{Ignore: true})
		synctest.Wait()
		if len(got) != 1 {
			t.Fatal("spare-only not granted with nothing in flight")
		}
		// With spare work alone in flight there is no one to delay: the
		// latency does not hold it back.
		rel, err := l.Acquire(withTimeout(t, spare, time.Second), Request{Class: Batch})
		if err != nil {
			t.Fatalf("a second spare-only call with only spare work in flight: %v", err)
		}
		rel(Result{Ignore: true})
		(<-got)(Result{Latency: 50 * time.Millisecond})
		if len(failed) != 0 {
			t.Fatal(<-failed)
		}
	})
}

// A spare-only request that finds no room before its deadline is refused
// (no_spare) near it, with a Retry-After; one whose context ends leaves.
func TestSpareOnlyRefusedAtItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{MaxWait: 10 * time.Second})
		l := c.Configure("t", Config{Initial: 2, Max: 2, CriticalReserve: -1})
		teach(l, 100*time.Millisecond, 10)
		rel := mustAcquire(t, l, Request{})
		defer rel(Result{Ignore: true})
		start := time.Now()
		_, err := l.Acquire(withTimeout(t, SpareOnly(context.Background()), time.Second), Request{Class: Batch})
		var e *Error
		if !errors.As(err, &e) || e.Reason != ReasonNoSpare || e.RetryAfter <= 0 {
			t.Fatalf("err = %v, want a no_spare refusal with Retry-After", err)
		}
		if d := time.Since(start); d >= time.Second || d < 800*time.Millisecond {
			t.Errorf("refused after %s, want before its deadline of 1s, less a call", d)
		}
		// Without a deadline: MaxWait bounds it.
		start = time.Now()
		if _, err := l.Acquire(SpareOnly(context.Background()), Request{Class: Batch}); !errors.As(err, &e) || e.Reason != ReasonNoSpare {
			t.Fatalf("err = %v, want no_spare", err)
		}
		if d := time.Since(start); d >= 10*time.Second {
			t.Errorf("refused after %s, want within MaxWait", d)
		}
		ctx, cancel := context.WithCancel(SpareOnly(context.Background()))
		got, failed := make(chan func(Result), 1), make(chan error, 1)
		hold(t, ctx, l, Request{Class: Batch}, got, failed)
		synctest.Wait()
		cancel()
		synctest.Wait()
		if err := <-failed; !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled spare waiter: %v", err)
		}
		l.mu.Lock()
		n := len(l.spare)
		l.mu.Unlock()
		if n != 0 {
			t.Fatalf("%d spare waiters left", n)
		}
	})
}

// Spare work alone, held back by the headroom while latency stays at its
// baseline, grows the limit as queued work would: a batch running alone
// finds the upstream's capacity.
func TestSpareOnlyAloneGrowsTheLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{})
		// At 2, the limit less the reserve is 1 and the headroom all of
		// it: spare work goes one call at a time, and grows it.
		l := c.Configure("t", Config{Initial: 2, Max: 100})
		spare := SpareOnly(context.Background())
		done := make(chan struct{})
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					rel, err := l.Acquire(spare, Request{Class: Batch})
					if err != nil {
						continue
					}
					time.Sleep(100 * time.Millisecond)
					rel(Result{Latency: 100 * time.Millisecond})
				}
			})
		}
		time.Sleep(10 * time.Second)
		close(done)
		wg.Wait()
		if s := l.State(); s.Limit < 10 {
			t.Fatalf("limit = %v after 10s of spare work alone at a steady latency, want it grown from 2", s.Limit)
		}
	})
}

func withTimeout(t *testing.T, ctx context.Context, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(ctx, d)
	t.Cleanup(cancel)
	return ctx
}

// While other requests are in flight, spare work held back at the edge of
// its room does not raise the limit: only their own demand moves it.
func TestSpareOnlyDoesNotGrowTheLimitUnderOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{})
		l := c.Configure("t", Config{Initial: 10, Max: 100, CriticalReserve: -1})
		spare := SpareOnly(context.Background())
		// 5 live calls and 4 spare ones: 9 of 10, the headroom is 1.
		var live []func(Result)
		for range 5 {
			live = append(live, mustAcquire(t, l, Request{}))
		}
		done := make(chan struct{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					rel, err := l.Acquire(spare, Request{Class: Batch})
					if err != nil {
						continue
					}
					time.Sleep(100 * time.Millisecond)
					rel(Result{Latency: 100 * time.Millisecond})
				}
			})
		}
		time.Sleep(10 * time.Second)
		close(done)
		wg.Wait()
		if s := l.State(); s.Limit != 10 {
			t.Fatalf("limit = %v after 10s of spare work beside live calls, want 10", s.Limit)
		}
		for _, r := range live {
			r(Result{Ignore: true})
		}
	})
}
