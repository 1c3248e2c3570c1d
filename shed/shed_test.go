package shed

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// hold acquires a permit for r in a goroutine and reports it on got.
func hold(t *testing.T, ctx context.Context, l *Limiter, r Request, got chan<- func(Result), failed chan<- error) {
	t.Helper()
	go func() {
		rel, err := l.Acquire(ctx, r)
		if err != nil {
			failed <- err
			return
		}
		got <- rel
	}()
}

func mustAcquire(t *testing.T, l *Limiter, r Request) func(Result) {
	t.Helper()
	rel, err := l.Acquire(context.Background(), r)
	if err != nil {
		t.Fatalf("acquire %+v: %v", r, err)
	}
	return rel
}

// teach makes l learn a service time of d from n calls.
func teach(l *Limiter, d time.Duration, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for range n {
		l.learn(Result{Latency: d}, time.Now(), time.Now())
	}
}

func TestResolve(t *testing.T) {
	for _, c := range []struct {
		principal, header, tier string
		want                    Class
	}{
		{"", "", "", Interactive},
		{"", "batch", "", Batch},
		{"", "", "flex", Batch},
		{"", "", "priority", Critical},
		{"", "critical", "flex", Critical}, // the header wins
		{"batch", "", "", Batch},
		{"interactive", "critical", "", Interactive}, // cannot rise above the key
		{"critical", "batch", "", Batch},             // may lower itself
		{"", "bogus", "", Interactive},
	} {
		if got := Resolve(c.principal, c.header, c.tier); got != c.want {
			t.Errorf("Resolve(%q, %q, %q) = %s, want %s", c.principal, c.header, c.tier, got, c.want)
		}
	}
}

func TestOverLimitWaitsAndCriticalGoesFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{})
		l := c.Configure("t", Config{Initial: 1, Max: 1, CriticalReserve: -1})
		rel := mustAcquire(t, l, Request{Class: Interactive})
		got := make(chan func(Result), 2)
		order := make(chan Class, 2)
		failed := make(chan error, 2)
		for _, k := range []Class{Batch, Critical} {
			go func() {
				r, err := l.Acquire(context.Background(), Request{Class: k})
				if err != nil {
					failed <- err
					return
				}
				order <- k
				got <- r
			}()
			synctest.Wait()
		}
		if s := l.State(); s.Queued["batch"] != 1 || s.Queued["critical"] != 1 {
			t.Fatalf("queued = %v, want one batch and one critical", s.Queued)
		}
		rel(Result{Latency: 100 * time.Millisecond})
		synctest.Wait()
		if k := <-order; k != Critical {
			t.Fatalf("first granted %s, want critical", k)
		}
		(<-got)(Result{Latency: 100 * time.Millisecond})
		synctest.Wait()
		if k := <-order; k != Batch {
			t.Fatalf("second granted %s, want batch", k)
		}
		(<-got)(Result{Latency: 100 * time.Millisecond})
		if len(failed) != 0 {
			t.Fatal(<-failed)
		}
	})
}

func TestShedAtOnceWhenTheWaitCannotFitTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{})
		l := c.Configure("t", Config{Initial: 1, Max: 1, CriticalReserve: -1})
		teach(l, 100*time.Millisecond, 10)
		rel := mustAcquire(t, l, Request{})
		defer rel(Result{Ignore: true})
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := l.Acquire(ctx, Request{Tenant: "a"})
		var e *Error
		if !errors.As(err, &e) || e.Reason != ReasonDeadline {
			t.Fatalf("err = %v, want a deadline shed", err)
		}
		if !errors.Is(err, ErrOverloaded) {
			t.Error("a shed error must match ErrOverloaded")
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("shed after %s, want at once", d)
		}
		if e.RetryAfter < 100*time.Millisecond {
			t.Errorf("RetryAfter = %s, want at least one service time", e.RetryAfter)
		}
		// With a deadline it fits, it waits and is served.
		ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
		defer cancel2()
		go func() {
			time.Sleep(100 * time.Millisecond)
			rel(Result{Latency: 100 * time.Millisecond})
		}()
		r2, err := l.Acquire(ctx2, Request{})
		if err != nil {
			t.Fatalf("second request: %v", err)
		}
		r2(Result{Ignore: true})
	})
}

func TestCriticalReserve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{})
		l := c.Configure("t", Config{Initial: 10, Max: 10, CriticalReserve: 0.2})
		var rels []func(Result)
		for range 8 {
			rels = append(rels, mustAcquire(t, l, Request{Class: Interactive}))
		}
		ctx, cancel := context.WithCancel(context.Background())
		got, failed := make(chan func(Result), 1), make(chan error, 1)
		hold(t, ctx, l, Request{Class: Batch}, got, failed)
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("a batch request took a permit reserved for critical")
		}
		rels = append(rels, mustAcquire(t, l, Request{Class: Critical}), mustAcquire(t, l, Request{Class: Critical}))
		cancel()
		synctest.Wait()
		if err := <-failed; !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled waiter: %v", err)
		}
		for _, r := range rels {
			r(Result{Ignore: true})
		}
		if s := l.State(); s.Inflight != 0 || s.Queued["batch"] != 0 {
			t.Fatalf("state after release = %+v", s)
		}
	})
}

func TestFullQueueDisplacesBatchFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{})
		l := c.Configure("t", Config{Initial: 1, Max: 1, Queue: 2, CriticalReserve: -1})
		rel := mustAcquire(t, l, Request{})
		got, failed := make(chan func(Result), 4), make(chan error, 4)
		hold(t, context.Background(), l, Request{Class: Batch}, got, failed)
		hold(t, context.Background(), l, Request{Class: Interactive}, got, failed)
		synctest.Wait()
		hold(t, context.Background(), l, Request{Class: Interactive}, got, failed)
		synctest.Wait()
		err := <-failed
		if e, ok := IsShed(err); !ok || e.Reason != ReasonDisplaced || e.Class != Batch {
			t.Fatalf("err = %v, want the batch waiter displaced", err)
		}
		// A batch arrival now finds no one to displace.
		_, err = l.Acquire(context.Background(), Request{Class: Batch})
		if e, ok := IsShed(err); !ok || e.Reason != ReasonQueueFull || e.Scope != ScopeSystem {
			t.Fatalf("err = %v, want queue_full system", err)
		}
		rel(Result{Ignore: true})
		for range 2 {
			synctest.Wait()
			(<-got)(Result{Ignore: true})
		}
	})
}

func TestBurstingTenantGetsItsShareAndTheQuietOneGoesFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{})
		l := c.Configure("t", Config{Initial: 4, Max: 4, CriticalReserve: -1})
		var rels []func(Result)
		for range 4 { // the bursting tenant takes all the capacity while it is idle
			rels = append(rels, mustAcquire(t, l, Request{Tenant: "loud"}))
		}
		type grant struct {
			tenant string
			rel    func(Result)
		}
		grants := make(chan grant, 16)
		for _, tn := range []string{"loud", "loud", "loud", "loud", "quiet", "quiet"} {
			go func() {
				r, err := l.Acquire(context.Background(), Request{Tenant: tn})
				if err != nil {
					t.Error(err)
					return
				}
				grants <- grant{tn, r}
			}()
			synctest.Wait()
		}
		// Two permits come back: both go to the quiet tenant, queued last.
		rels[0](Result{Ignore: true})
		rels[1](Result{Ignore: true})
		synctest.Wait()
		for range 2 {
			if g := <-grants; g.tenant != "quiet" {
				t.Fatalf("granted to %s, want quiet", g.tenant)
			} else {
				rels = append(rels, g.rel)
			}
		}
		for _, r := range rels[2:] {
			r(Result{Ignore: true})
		}
		for range 4 {
			synctest.Wait()
			(<-grants).rel(Result{Ignore: true})
		}
	})
}

func TestScopeTenantWhenOverItsShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{})
		l := c.Configure("t", Config{Initial: 2, Max: 2, Queue: 1, CriticalReserve: -1})
		a := mustAcquire(t, l, Request{Tenant: "loud"})
		b := mustAcquire(t, l, Request{Tenant: "quiet"})
		got, failed := make(chan func(Result), 2), make(chan error, 2)
		hold(t, context.Background(), l, Request{Tenant: "loud"}, got, failed)
		synctest.Wait()
		_, err := l.Acquire(context.Background(), Request{Tenant: "loud"})
		if e, ok := IsShed(err); !ok || e.Scope != ScopeTenant {
			t.Fatalf("loud: %v, want a tenant-scope shed", err)
		}
		_, err = l.Acquire(context.Background(), Request{Tenant: "quiet"})
		if e, ok := IsShed(err); !ok || e.Scope != ScopeSystem {
			t.Fatalf("quiet: %v, want a system-scope shed", err)
		}
		a(Result{Ignore: true})
		synctest.Wait()
		(<-got)(Result{Ignore: true})
		b(Result{Ignore: true})
	})
}

func TestLimitLearnsFromLatencyOverloadAndRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{})
		l := c.Configure("t", Config{Initial: 10, Min: 2, Max: 20, CriticalReserve: -1})
		// Saturated with flat latency: the limit grows.
		for range 50 {
			var rels []func(Result)
			for range int(l.State().Limit) {
				rels = append(rels, mustAcquire(t, l, Request{}))
			}
			for _, r := range rels {
				r(Result{Latency: 100 * time.Millisecond})
			}
			time.Sleep(100 * time.Millisecond)
		}
		grown := l.State().Limit
		if grown <= 10 {
			t.Fatalf("limit = %v after flat latency at the limit, want > 10", grown)
		}
		// Latency doubles: it shrinks.
		for range 10 {
			rel := mustAcquire(t, l, Request{})
			rel(Result{Latency: 300 * time.Millisecond})
			time.Sleep(300 * time.Millisecond)
		}
		if s := l.State().Limit; s >= grown*0.5 {
			t.Fatalf("limit = %v after latency tripled, want < %v", s, grown*0.5)
		}
		// An upstream 429 with Retry-After pauses grants, then resumes them
		// (on a limiter of its own: the tripled latency took this one to
		// its floor).
		l = c.Configure("t2", Config{Initial: 10, Min: 2, Max: 20, CriticalReserve: -1})
		before := l.State().Limit
		rel := mustAcquire(t, l, Request{})
		rel(Result{Overloaded: true, RetryAfter: 2 * time.Second})
		if s := l.State(); s.Limit >= before || s.PausedFor == "" {
			t.Fatalf("after a 429: %+v, want a lower limit and a pause", s)
		}
		start := time.Now()
		rel2 := mustAcquire(t, l, Request{})
		if d := time.Since(start); d != 2*time.Second {
			t.Fatalf("waited %s for the pause, want 2s", d)
		}
		rel2(Result{Ignore: true})
	})
}

func TestProcessGate(t *testing.T) {
	c := New(Options{MaxInflight: 10, CriticalReserve: 0.2})
	var rels []func()
	for range 8 {
		r, err := c.Admit(Request{})
		if err != nil {
			t.Fatal(err)
		}
		rels = append(rels, r)
	}
	_, err := c.Admit(Request{Class: Batch})
	if e, ok := IsShed(err); !ok || e.Reason != ReasonMaxInflight || e.Scope != ScopeSystem {
		t.Fatalf("err = %v, want max_inflight", err)
	}
	for range 2 {
		r, err := c.Admit(Request{Class: Critical})
		if err != nil {
			t.Fatalf("critical refused within its reserve: %v", err)
		}
		rels = append(rels, r)
	}
	if _, err := c.Admit(Request{Class: Critical}); err == nil {
		t.Fatal("admitted beyond max_inflight")
	}
	for _, r := range rels {
		r()
		r() // idempotent
	}
	s := c.Snapshot()
	if s.Inflight != 0 || s.Shed["batch"][ReasonMaxInflight] != 1 || s.Admitted["critical"] != 2 {
		t.Fatalf("snapshot = %+v", s)
	}
}

func TestMaxQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{MaxQueued: 1})
		a := c.Configure("a", Config{Initial: 1, Max: 1, CriticalReserve: -1})
		b := c.Configure("b", Config{Initial: 1, Max: 1, CriticalReserve: -1})
		ra, rb := mustAcquire(t, a, Request{}), mustAcquire(t, b, Request{})
		got, failed := make(chan func(Result), 1), make(chan error, 1)
		hold(t, context.Background(), a, Request{}, got, failed)
		synctest.Wait()
		_, err := b.Acquire(context.Background(), Request{})
		if e, ok := IsShed(err); !ok || e.Reason != ReasonMaxQueued {
			t.Fatalf("err = %v, want max_queued", err)
		}
		ra(Result{Ignore: true})
		synctest.Wait()
		(<-got)(Result{Ignore: true})
		rb(Result{Ignore: true})
		if q := c.Snapshot().Queued; q != 0 {
			t.Fatalf("queued = %d after draining", q)
		}
	})
}

// Dispatch is tenant-first: a tenant under its share is served before a
// tenant over it, whatever their classes; within a tenant, its most
// important waiter goes first.
func TestTenantUnderItsShareGoesBeforeAMoreImportantClassOverIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{})
		l := c.Configure("t", Config{Initial: 2, Max: 2, CriticalReserve: -1})
		a := mustAcquire(t, l, Request{Tenant: "loud"})
		b := mustAcquire(t, l, Request{Tenant: "loud"})
		type grant struct {
			r   Request
			rel func(Result)
		}
		grants := make(chan grant, 4)
		for _, r := range []Request{{Class: Interactive, Tenant: "loud"}, {Class: Batch, Tenant: "quiet"}, {Class: Critical, Tenant: "quiet"}} {
			go func() {
				rel, err := l.Acquire(context.Background(), r)
				if err != nil {
					t.Error(err)
					return
				}
				grants <- grant{r, rel}
			}()
			synctest.Wait()
		}
		a(Result{Ignore: true})
		synctest.Wait()
		if g := <-grants; g.r.Tenant != "quiet" || g.r.Class != Critical {
			t.Fatalf("first grant %+v, want quiet's critical", g.r)
		} else {
			defer g.rel(Result{Ignore: true})
		}
		b(Result{Ignore: true}) // loud now holds none, quiet one: loud goes before quiet's batch
		synctest.Wait()
		if g := <-grants; g.r.Tenant != "loud" || g.r.Class != Interactive {
			t.Fatalf("second grant %+v, want loud's interactive", g.r)
		} else {
			g.rel(Result{Ignore: true})
		}
		synctest.Wait()
		(<-grants).rel(Result{Ignore: true})
	})
}

// Critical calls beyond the reserve take the other classes' room once: the
// others may use the limit less the reserve or less what critical holds,
// whichever is less, not less both.
func TestCriticalBeyondTheReserveTakesTheOthersRoomOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{})
		l := c.Configure("t", Config{Initial: 10, Max: 10, CriticalReserve: 0.2})
		var rels []func(Result)
		for range 4 {
			rels = append(rels, mustAcquire(t, l, Request{Class: Critical}))
		}
		for range 6 {
			rels = append(rels, mustAcquire(t, l, Request{Class: Interactive}))
		}
		if s := l.State(); s.Inflight != 10 {
			t.Fatalf("inflight = %d, want the whole limit", s.Inflight)
		}
		ctx, cancel := context.WithCancel(context.Background())
		got, failed := make(chan func(Result), 1), make(chan error, 1)
		hold(t, ctx, l, Request{Class: Interactive}, got, failed)
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("granted beyond the limit")
		}
		cancel()
		synctest.Wait()
		<-failed
		for _, r := range rels {
			r(Result{Ignore: true})
		}
		// With critical idle, the others stop at the limit less the reserve.
		rels = rels[:0]
		for range 8 {
			rels = append(rels, mustAcquire(t, l, Request{Class: Batch}))
		}
		ctx, cancel = context.WithCancel(context.Background())
		hold(t, ctx, l, Request{Class: Batch}, got, failed)
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("a batch request took the reserve")
		}
		cancel()
		synctest.Wait()
		<-failed
		for _, r := range rels {
			r(Result{Ignore: true})
		}
	})
}

// A critical waiter goes before every other class, whatever its tenant
// holds, and a critical arrival is not shed for the other classes' queue.
func TestCriticalWaitersGoFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{})
		l := c.Configure("t", Config{Initial: 2, Max: 2, CriticalReserve: -1})
		teach(l, 100*time.Millisecond, 10)
		a := mustAcquire(t, l, Request{Tenant: "loud"})
		b := mustAcquire(t, l, Request{Tenant: "loud"})
		type grant struct {
			r   Request
			rel func(Result)
		}
		grants := make(chan grant, 8)
		for _, r := range []Request{{Tenant: "quiet"}, {Tenant: "quiet"}, {Tenant: "quiet"}, {Class: Critical, Tenant: "loud"}} {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				rel, err := l.Acquire(ctx, r)
				if err != nil {
					t.Error(err)
					return
				}
				grants <- grant{r, rel}
			}()
			synctest.Wait()
		}
		// Three quiet waiters ahead would not fit a 250ms deadline; the
		// critical arrival has none ahead of it.
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		defer cancel()
		go func() {
			rel, err := l.Acquire(ctx, Request{Class: Critical, Tenant: "loud"})
			if err != nil {
				t.Errorf("second critical: %v", err)
				return
			}
			grants <- grant{Request{Class: Critical, Tenant: "loud"}, rel}
		}()
		synctest.Wait()
		a(Result{Ignore: true})
		synctest.Wait()
		if g := <-grants; g.r.Class != Critical {
			t.Fatalf("first grant %+v, want loud's critical", g.r)
		} else {
			defer g.rel(Result{Ignore: true})
		}
		b(Result{Ignore: true})
		synctest.Wait()
		if g := <-grants; g.r.Class != Critical {
			t.Fatalf("second grant %+v, want loud's second critical", g.r)
		} else {
			g.rel(Result{Ignore: true})
		}
		for range 3 {
			synctest.Wait()
			(<-grants).rel(Result{Ignore: true})
		}
	})
}

// When the queue is full, a busier tenant's arrival does not displace a
// quieter tenant's waiter, whatever their classes; the quieter tenant's
// arrival displaces the busier one's.
func TestFullQueueSparesTheQuietTenant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{})
		l := c.Configure("t", Config{Initial: 1, Max: 1, Queue: 2, CriticalReserve: -1})
		rel := mustAcquire(t, l, Request{Tenant: "loud"})
		got, failed := make(chan func(Result), 4), make(chan error, 4)
		hold(t, context.Background(), l, Request{Class: Batch, Tenant: "quiet"}, got, failed)
		synctest.Wait()
		hold(t, context.Background(), l, Request{Tenant: "loud"}, got, failed)
		synctest.Wait()
		_, err := l.Acquire(context.Background(), Request{Tenant: "loud"})
		if e, ok := IsShed(err); !ok || e.Reason != ReasonQueueFull {
			t.Fatalf("loud arrival: %v, want queue_full", err)
		}
		hold(t, context.Background(), l, Request{Tenant: "quiet"}, got, failed)
		synctest.Wait()
		if e, ok := IsShed(<-failed); !ok || e.Reason != ReasonDisplaced || e.Tenant != "loud" {
			t.Fatalf("displaced %+v, want loud's waiter", e)
		}
		rel(Result{Ignore: true})
		for range 2 {
			synctest.Wait()
			(<-got)(Result{Ignore: true})
		}
	})
}

func TestHeadroomPause(t *testing.T) {
	for _, c := range []struct {
		name     string
		h        Headroom
		inflight int
		want     time.Duration
	}{
		{"plenty left", Headroom{Requests: 50, RequestsLimit: 100, RequestsReset: time.Minute, Tokens: -1, TokensLimit: -1}, 4, 0},
		{"no more than in flight", Headroom{Requests: 2, RequestsLimit: 100, RequestsReset: 49 * time.Second, Tokens: -1, TokensLimit: -1}, 2, 500 * time.Millisecond},
		{"none left, limit unknown", Headroom{Requests: 0, RequestsLimit: -1, RequestsReset: 3 * time.Second, Tokens: -1, TokensLimit: -1}, 0, 3 * time.Second},
		{"tokens for fewer calls than in flight", Headroom{Requests: 90, RequestsLimit: 100, RequestsReset: time.Second, Tokens: 1000, TokensLimit: 11000, TokensReset: 10 * time.Second}, 1, time.Second},
		{"tokens enough", Headroom{Requests: 90, RequestsLimit: 100, Tokens: 5000, TokensLimit: 11000, TokensReset: 10 * time.Second}, 1, 0},
		{"nothing stated", Headroom{Requests: -1, RequestsLimit: -1, Tokens: -1, TokensLimit: -1}, 3, 0},
	} {
		if got := c.h.pauseFor(c.inflight, time.Now()); got != c.want {
			t.Errorf("%s: pause %s, want %s", c.name, got, c.want)
		}
	}
	// A statement heeded after a while (a stream's, at its end; a cached
	// one) pauses only for what is left of it.
	now := time.Now()
	h := Headroom{Requests: 2, RequestsLimit: 100, RequestsReset: 49 * time.Second, Tokens: -1, TokensLimit: -1}
	for _, c := range []struct {
		age, want time.Duration
	}{{0, 500 * time.Millisecond}, {300 * time.Millisecond, 200 * time.Millisecond}, {time.Minute, 0}} {
		h.At = now.Add(-c.age)
		if got := h.pauseFor(2, now); got != c.want {
			t.Errorf("statement %s old: pause %s, want %s", c.age, got, c.want)
		}
	}
	// Requests not stated: the tokens a call needs are not guessed from
	// the request limit alone.
	h = Headroom{Requests: -1, RequestsLimit: 100, Tokens: 500, TokensLimit: 10000, TokensReset: 10 * time.Second}
	if got := h.pauseFor(1, now); got != 0 {
		t.Errorf("tokens left, requests not stated: pause %s, want 0", got)
	}
}

// An upstream that says its rate limit is used up pauses its target until
// enough of it is back, before it refuses anything; unless told not to
// heed it.
func TestHeadroomPausesGrants(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, ignore := range []bool{false, true} {
			c := New(Options{})
			l := c.Configure("t", Config{Initial: 4, Max: 4, IgnoreHeadroom: ignore})
			rel := mustAcquire(t, l, Request{})
			rel(Result{Latency: 100 * time.Millisecond, Headroom: &Headroom{Requests: 0, RequestsLimit: 60, RequestsReset: time.Minute, Tokens: -1, TokensLimit: -1}})
			start := time.Now()
			mustAcquire(t, l, Request{})(Result{Ignore: true})
			want := time.Second // one of 60 a minute back
			if ignore {
				want = 0
			}
			if d := time.Since(start); d != want {
				t.Errorf("ignore %v: granted after %s, want %s", ignore, d, want)
			}
		}
	})
}

// An arrival whose deadline leaves it no time to wait is refused at once
// (deadline), before it displaces a waiter it would then not replace.
func TestArrivalThatCannotWaitDisplacesNoOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{})
		l := c.Configure("t", Config{Initial: 10, Max: 10, Queue: 1, CriticalReserve: -1})
		var rels []func(Result)
		for range 10 {
			rels = append(rels, mustAcquire(t, l, Request{}))
		}
		l.mu.Lock()
		l.service = 100 * time.Millisecond // as learned from earlier calls
		l.mu.Unlock()
		got, failed := make(chan func(Result), 2), make(chan error, 2)
		hold(t, context.Background(), l, Request{Class: Batch}, got, failed)
		synctest.Wait()

		// The estimated wait (10 ms) and a call (100 ms) fit in 115 ms, but
		// a waiter must keep 125 ms for its call (tolerance 1.5).
		ctx, cancel := context.WithTimeout(context.Background(), 115*time.Millisecond)
		defer cancel()
		_, err := l.Acquire(ctx, Request{Class: Interactive})
		if e, ok := IsShed(err); !ok || e.Reason != ReasonDeadline {
			t.Fatalf("err = %v, want a deadline refusal at once", err)
		}
		select {
		case err := <-failed:
			t.Fatalf("the batch waiter was refused (%v) for an arrival that did not queue", err)
		default:
		}
		for _, r := range rels {
			r(Result{Ignore: true})
		}
		synctest.Wait()
		(<-got)(Result{Ignore: true})
	})
}

// A stream teaches the limit at its first content (Holding) and keeps its
// permit until it ends; its end returns the permit and is not learned
// again, however long the stream ran.
func TestStreamTeachesAtFirstContentAndHoldsItsPermit(t *testing.T) {
	c := New(Options{})
	l := c.Configure("t", Config{Initial: 2})
	rel := mustAcquire(t, l, Request{})
	rel(Result{Latency: 80 * time.Millisecond, Holding: true})
	if s := l.State(); s.Service != "80ms" || s.Inflight != 1 {
		t.Fatalf("after first content: service %s, %d in flight; want 80ms learned and the permit held", s.Service, s.Inflight)
	}
	rel(Result{Latency: 20 * time.Millisecond, Holding: true}) // learned once only
	rel(Result{Latency: 10 * time.Minute})
	rel(Result{Latency: 10 * time.Minute, Holding: true}) // after the end: nothing
	if s := l.State(); s.Service != "80ms" || s.Inflight != 0 {
		t.Errorf("after the stream's end: service %s, %d in flight; want 80ms and the permit back", s.Service, s.Inflight)
	}
}
