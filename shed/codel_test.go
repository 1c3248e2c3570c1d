package shed

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// tally counts what a load did at a limiter.
type tally struct {
	mu       sync.Mutex
	served   map[string]int // by tenant or class
	shed     map[string]map[string]int
	maxWait  time.Duration // of the requests served after the warm-up
	warmedUp time.Time
}

func newTally(warm time.Time) *tally {
	return &tally{served: map[string]int{}, shed: map[string]map[string]int{}, warmedUp: warm}
}

func (ty *tally) add(key string, start time.Time, err error) {
	ty.mu.Lock()
	defer ty.mu.Unlock()
	if err != nil {
		e, ok := IsShed(err)
		if !ok {
			panic(err)
		}
		if ty.shed[key] == nil {
			ty.shed[key] = map[string]int{}
		}
		ty.shed[key][e.Reason]++
		return
	}
	ty.served[key]++
	if start.After(ty.warmedUp) {
		ty.maxWait = max(ty.maxWait, time.Since(start))
	}
}

func (ty *tally) refused(key string) int {
	ty.mu.Lock()
	defer ty.mu.Unlock()
	n := 0
	for _, v := range ty.shed[key] {
		n += v
	}
	return n
}

// call acquires a permit for r without a deadline, holds it for d and
// releases it with a latency of d, counting what happened under key.
func call(wg *sync.WaitGroup, l *Limiter, r Request, key string, d time.Duration, ty *tally) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		rel, err := l.Acquire(context.Background(), r)
		ty.add(key, start, err)
		if err != nil {
			return
		}
		time.Sleep(d)
		rel(Result{Latency: d})
	}()
}

// Offered four times what it serves, by callers without a deadline, a
// queue stands: waiters that waited past the target are refused and those
// served wait at most the target, not the whole queue's depth.
func TestStandingQueueShedsWaitersPastTheTarget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{})
		l := c.Configure("t", Config{Initial: 2, Max: 2, CriticalReserve: -1})
		teach(l, 100*time.Millisecond, 10) // target 50ms, interval 200ms
		var wg sync.WaitGroup
		ty := newTally(time.Now().Add(time.Second))
		for range 200 { // 4 s at 50 a second against 20 a second
			call(&wg, l, Request{}, "all", 100*time.Millisecond, ty)
			time.Sleep(20 * time.Millisecond)
		}
		wg.Wait()
		if ty.maxWait > 50*time.Millisecond {
			t.Errorf("served after waiting up to %s, want at most the 50ms target", ty.maxWait)
		}
		if n := ty.shed["all"][ReasonQueueDelay]; n < 100 {
			t.Errorf("refused %d for queue delay (%v), want most of the 3/5 over capacity", n, ty.shed)
		}
		if ty.served["all"] < 78 { // 20 a second for 4 s: the target stays busy
			t.Errorf("served %d, want about 80: shedding must not idle the target", ty.served["all"])
		}
		// The refusal is a shed error like every other, with a Retry-After.
		rel := mustAcquire(t, l, Request{})
		rel2 := mustAcquire(t, l, Request{})
		time.Sleep(time.Second)
		errs := make(chan error, 2)
		go func() { _, err := l.Acquire(context.Background(), Request{}); errs <- err }()
		go func() { _, err := l.Acquire(context.Background(), Request{}); errs <- err }()
		time.Sleep(300 * time.Millisecond)
		for range 2 {
			e, ok := IsShed(<-errs)
			if !ok || e.Reason != ReasonQueueDelay || e.Scope != ScopeSystem || e.RetryAfter < time.Second {
				t.Errorf("refusal %+v, want queue_delay, system scope, Retry-After ≥ 1s", e)
			}
		}
		rel(Result{Ignore: true})
		rel2(Result{Ignore: true})
	})
}

// A queue that empties within every interval sheds nothing, however long
// its waiters wait; the same waits in a queue that never empties are shed.
func TestQueueThatEmptiesRegularlyShedsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{})
		l := c.Configure("t", Config{Initial: 1, Max: 1, CriticalReserve: -1, QueueTarget: 20 * time.Millisecond, QueueInterval: 250 * time.Millisecond})
		teach(l, 100*time.Millisecond, 10)
		var wg sync.WaitGroup
		ty := newTally(time.Now())
		for range 20 { // bursts of three every 400 ms: the third waits 200 ms
			for range 3 {
				call(&wg, l, Request{}, "bursts", 100*time.Millisecond, ty)
			}
			time.Sleep(400 * time.Millisecond)
		}
		wg.Wait()
		if n := ty.refused("bursts"); n != 0 || ty.served["bursts"] != 60 {
			t.Errorf("bursts that drain: served %d, refused %v; want all 60 served", ty.served["bursts"], ty.shed)
		}
		if ty.maxWait < 200*time.Millisecond {
			t.Errorf("longest wait %s, want 200ms (past the target)", ty.maxWait)
		}
		for range 20 { // four every 300 ms: it never drains
			for range 4 {
				call(&wg, l, Request{}, "standing", 100*time.Millisecond, ty)
			}
			time.Sleep(300 * time.Millisecond)
		}
		wg.Wait()
		if ty.shed["standing"][ReasonQueueDelay] == 0 {
			t.Errorf("a queue that never drains shed nothing: %v", ty.shed)
		}
	})
}

// While a queue stands, controlled delay sheds in the order of dispatch:
// critical requests and the quiet tenant's, served first, wait less than
// the target and are (almost) never refused; the bursting tenant's batch
// requests are refused first.
func TestStandingQueueKeepsPrioritiesAndFairShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{})
		l := c.Configure("t", Config{Initial: 10, Max: 10, CriticalReserve: 0.2, Queue: 256})
		teach(l, 100*time.Millisecond, 10)
		var wg sync.WaitGroup
		ty := newTally(time.Now())
		rnd := rand.New(rand.NewPCG(1, 2))
		svc := func() time.Duration { return time.Duration(50+rnd.IntN(101)) * time.Millisecond }
		// Capacity is 100 a second (calls take 50 to 150 ms). The loud tenant sends 300 a second,
		// 2:1 interactive to batch; the quiet one 20 a second; critical
		// requests 10 a second, from the loud tenant.
		for i := range 1500 { // 3 s, one arrival every 2 ms
			switch {
			case i%50 == 0:
				call(&wg, l, Request{Class: Critical, Tenant: "loud"}, "critical", svc(), ty)
			case i%25 == 1:
				call(&wg, l, Request{Tenant: "quiet"}, "quiet", svc(), ty)
			case i%5 == 2 || i%5 == 3 || i%5 == 4:
				k, key := Interactive, "loud interactive"
				if rnd.IntN(3) == 0 {
					k, key = Batch, "loud batch"
				}
				call(&wg, l, Request{Class: k, Tenant: "loud"}, key, svc(), ty)
			}
			time.Sleep(2 * time.Millisecond)
		}
		wg.Wait()
		// A quiet request that arrives as a burst of loud ones is being
		// served may wait past the target; one in twenty at most.
		if ty.refused("critical") != 0 || ty.refused("quiet")*20 > ty.served["quiet"] {
			t.Errorf("critical or quiet requests refused: %v", ty.shed)
		}
		if ty.shed["loud batch"][ReasonQueueDelay] == 0 || ty.shed["loud interactive"][ReasonQueueDelay] == 0 {
			t.Errorf("refusals %v, want the loud tenant's shed for queue delay", ty.shed)
		}
		ib := float64(ty.served["loud interactive"]) / float64(ty.served["loud interactive"]+ty.refused("loud interactive"))
		bb := float64(ty.served["loud batch"]) / float64(ty.served["loud batch"]+ty.refused("loud batch"))
		if bb >= ib {
			t.Errorf("loud batch served %.0f%%, interactive %.0f%%: want batch shed first", 100*bb, 100*ib)
		}
	})
}

// logNormal draws from the log-normal distribution of median p50 and 99th
// percentile p99, as llm/sim does.
func logNormal(r *rand.Rand, p50, p99 time.Duration) time.Duration {
	sigma := math.Log(float64(p99)/float64(p50)) / 2.3263478740408408
	return time.Duration(float64(p50) * math.Exp(sigma*r.NormFloat64()))
}

// A healthy upstream whose latency grows with the answer's length and
// varies as real answers do — the built-in sim-chat's: a first token
// after 80 ms (p99 300 ms), then 16 to 64 tokens 8 ms apart (p99 30 ms),
// at 50 requests a second (about 23 in flight, the limit starts at 16).
// Judged by latency per token the limit never shrinks and grows to serve
// them, refusing few on the way (judged by raw latency, the same calls
// take it down to 1 and 90% are refused).
func TestLimitHoldsWhenLatencyVariesWithTheAnswer(t *testing.T) {
	const calls = 60 * 50 // a minute, Poisson arrivals
	t.Run("per token", func(t *testing.T) {
		lowest, final, refused := varyingAnswers(t, true)
		t.Logf("judged per token: limit down to %.2f, then %.2f; %d of %d refused", lowest, final, refused, calls)
		if lowest < 16 || final < 24 || refused*20 > calls {
			t.Errorf("limit down to %.2f, then %.2f; %d of %d refused: want it never below the initial 16, grown past the 23 in flight, at most 5%% refused",
				lowest, final, refused, calls)
		}
	})
	// The same calls without their token counts are judged by raw latency,
	// as every answer was before: the limit collapses. This is what the
	// rule above prevents, kept as a figure (BENCHMARKS.md).
	t.Run("raw latency", func(t *testing.T) {
		lowest, final, refused := varyingAnswers(t, false)
		t.Logf("judged by raw latency: limit down to %.2f, then %.2f; %d of %d refused", lowest, final, refused, calls)
		if lowest > 4 || refused*2 < calls {
			t.Errorf("raw latency took the limit only down to %.2f with %d of %d refused; this test no longer shows the collapse", lowest, refused, calls)
		}
	})
}

// varyingAnswers runs a minute of sim-chat-like calls through a fresh
// limiter, with their output token counts when perToken, and returns the
// lowest and final limits and the refusals.
func varyingAnswers(t *testing.T, perToken bool) (lowest, final float64, refused int) {
	const calls = 60 * 50
	synctest.Test(t, func(t *testing.T) {
		ctl := New(Options{})
		l := ctl.Configure("t", Config{})
		rnd := rand.New(rand.NewPCG(3, 4))
		var wg sync.WaitGroup
		var mu sync.Mutex
		lowest = l.State().Limit
		for range calls {
			n := 16 + rnd.IntN(49)
			res := Result{Latency: logNormal(rnd, 80*time.Millisecond, 300*time.Millisecond)}
			if perToken {
				res.Tokens = n
			}
			for range n {
				res.Latency += logNormal(rnd, 8*time.Millisecond, 30*time.Millisecond)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				rel, err := l.Acquire(context.Background(), Request{})
				if err != nil {
					mu.Lock()
					refused++
					mu.Unlock()
					return
				}
				time.Sleep(res.Latency)
				rel(res)
			}()
			time.Sleep(time.Duration(rnd.ExpFloat64() * float64(20*time.Millisecond)))
			lowest = min(lowest, l.State().Limit)
		}
		wg.Wait()
		final = l.State().Limit
	})
	return lowest, final, refused
}
