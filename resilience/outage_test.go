package resilience

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// An outage begins once however many callers report it, prepares before
// Degraded turns true, probes with backoff while the backend is down, and
// ends when a probe answers; Close stops the probing.
func TestOutageBeginsOnceProbesAndEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		down := true
		var probes []time.Time
		var changes []bool
		u := NewOutage(func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			probes = append(probes, time.Now())
			if down {
				return errors.New("connection refused")
			}
			return nil
		}, OutageOptions{ProbeMin: 100 * time.Millisecond, ProbeMax: 400 * time.Millisecond,
			OnChange: func(degraded bool, err error) {
				if degraded == (err == nil) {
					t.Errorf("OnChange(%v, %v)", degraded, err)
				}
				changes = append(changes, degraded)
			}})
		defer u.Close()

		prepared := 0
		for range 3 {
			u.Begin(errors.New("timeout"), func() {
				if u.Degraded() {
					t.Error("prepare ran after Degraded turned true")
				}
				prepared++
			})
		}
		if !u.Degraded() || prepared != 1 {
			t.Fatalf("Degraded %v, prepared %d times; want true, once", u.Degraded(), prepared)
		}
		start := time.Now()
		time.Sleep(time.Second)
		mu.Lock()
		// Probes at 100, 300, 700 ms: the wait doubles, capped at 400.
		want := []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 700 * time.Millisecond}
		if len(probes) != len(want) {
			t.Fatalf("%d probes in a second; want %d", len(probes), len(want))
		}
		for i, p := range probes {
			if got := p.Sub(start); got != want[i] {
				t.Errorf("probe %d at %v; want %v", i, got, want[i])
			}
		}
		down = false
		mu.Unlock()
		time.Sleep(400 * time.Millisecond)
		synctest.Wait()
		if u.Degraded() {
			t.Fatal("still degraded after a probe answered")
		}
		if len(changes) != 2 || !changes[0] || changes[1] {
			t.Errorf("OnChange calls %v; want [true false]", changes)
		}
		// A new outage after Close does not begin.
		u.Close()
		u.Begin(errors.New("again"), nil)
		if u.Degraded() {
			t.Error("an outage began after Close")
		}
	})
}

// Recover runs while still degraded once a probe answers; while it fails
// the outage goes on, and the next probe runs it again.
func TestOutageRecover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u *Outage
		var mu sync.Mutex
		fail := true
		var runs []time.Duration
		start := time.Now()
		u = NewOutage(func(context.Context) error { return nil }, OutageOptions{
			ProbeMin: 100 * time.Millisecond, ProbeMax: 400 * time.Millisecond,
			Recover: func(context.Context) error {
				mu.Lock()
				defer mu.Unlock()
				if !u.Degraded() {
					t.Error("Recover ran after the outage ended")
				}
				runs = append(runs, time.Since(start))
				if fail {
					return errors.New("push refused")
				}
				return nil
			}})
		defer u.Close()
		u.Begin(errors.New("timeout"), nil)
		time.Sleep(350 * time.Millisecond)
		synctest.Wait()
		if !u.Degraded() {
			t.Fatal("the outage ended though Recover failed")
		}
		mu.Lock()
		fail = false
		mu.Unlock()
		time.Sleep(400 * time.Millisecond)
		synctest.Wait()
		if u.Degraded() {
			t.Fatal("still degraded after Recover succeeded")
		}
		want := []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 700 * time.Millisecond}
		if len(runs) != len(want) {
			t.Fatalf("Recover ran at %v; want %v", runs, want)
		}
		for i := range want {
			if runs[i] != want[i] {
				t.Errorf("Recover run %d at %v; want %v", i, runs[i], want[i])
			}
		}
	})
}

// Close ends the context of a Recover that is still running.
func TestOutageCloseCancelsRecover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := NewOutage(func(context.Context) error { return nil }, OutageOptions{
			ProbeMin: 10 * time.Millisecond,
			Recover: func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			}})
		u.Begin(errors.New("timeout"), nil)
		time.Sleep(20 * time.Millisecond)
		u.Close()
		if !u.Degraded() {
			t.Error("a cancelled Recover ended the outage")
		}
	})
}
