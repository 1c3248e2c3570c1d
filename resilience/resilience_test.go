package resilience

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestBackoffFullJitterWithCap(t *testing.T) {
	top := func() float64 { return 0.999999 }
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 10: time.Second} {
		if got := Backoff(100*time.Millisecond, time.Second, n, top); got > want || got < want*99/100 {
			t.Errorf("retry %d: ceiling %s, want %s", n, got, want)
		}
	}
	if got := Backoff(100*time.Millisecond, time.Second, 5, func() float64 { return 0 }); got != 0 {
		t.Errorf("full jitter starts at 0, got %s", got)
	}
}

func TestBudgetBoundsRetriesToARatioOfRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBudget(0.2, 3, 10*time.Second)
		for range 100 {
			b.Request()
		}
		n := 0
		for b.TryRetry() {
			n++
		}
		if n != 20 {
			t.Errorf("%d retries for 100 requests, want 20", n)
		}
		time.Sleep(25 * time.Second) // both windows gone
		n = 0
		for b.TryRetry() {
			n++
		}
		if n != 3 {
			t.Errorf("%d retries on a quiet target, want the floor of 3", n)
		}
	})
}

func TestBreakerOpensProbesAndCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBreaker(BreakerConfig{ConsecutiveFailures: 3, OpenFor: 10 * time.Second, HalfOpenProbes: 1})
		for range 3 {
			if !b.Allow() {
				t.Fatal("closed breaker refused")
			}
			b.Failure()
		}
		if b.State().State != "open" || b.Ready() || b.Allow() {
			t.Fatalf("state %+v after 3 failures", b.State())
		}
		time.Sleep(10 * time.Second)
		if !b.Ready() || !b.Allow() {
			t.Fatal("no probe after open_for")
		}
		if b.Allow() {
			t.Error("a second concurrent probe was admitted")
		}
		b.Success()
		if b.State().State != "closed" {
			t.Errorf("state %s after a successful probe", b.State().State)
		}
	})
}

func TestBreakerFailureRatio(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBreaker(BreakerConfig{ConsecutiveFailures: 100, FailureRatio: 0.5, MinRequests: 10, Window: time.Minute, OpenFor: time.Second})
		for i := range 10 {
			b.Allow()
			if i%2 == 0 {
				b.Failure()
			} else {
				b.Success()
			}
		}
		if b.State().State != "open" {
			t.Errorf("state %s at a 50%% failure ratio", b.State().State)
		}
	})
}

func TestLoadPeakEWMAAndP95(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewLoad(time.Second)
		for i := 1; i <= 100; i++ {
			done := l.Begin()
			done(time.Duration(i)*time.Millisecond, true)
		}
		if p := l.P95(); p != 97*time.Millisecond { // last 64: 37..100ms, 61st
			t.Errorf("p95 = %s", p)
		}
		done := l.Begin()
		if l.Outstanding() != 1 {
			t.Error("outstanding not counted")
		}
		done(time.Second, true) // a slow answer raises the peak at once
		if c := l.Cost(); c < float64(time.Second) {
			t.Errorf("cost %g after a 1s answer", c)
		}
	})
}
