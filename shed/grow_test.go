package shed

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// 2,000 long streams opened at 500 a second against a healthy upstream
// (first content after 5–8 ms, then open for the rest of the test): each
// holds its permit for as long as it is open, so the limit must follow
// the demand within a few round trips or the queue's controlled delay
// refuses the streams that wait. Before the limit grew by one per
// limit's worth of calls, 12 of 2,000 were served over HTTP
// (BENCHMARKS.md).
func TestLimitFollowsASurgeOfLongStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctl := New(Options{})
		l := ctl.Configure("t", Config{})
		rnd := rand.New(rand.NewPCG(1, 2))
		const n = 2000
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			refused  = map[string]int{}
			closeAll = make(chan struct{})
		)
		for range n {
			ttft := 5*time.Millisecond + time.Duration(rnd.IntN(3000))*time.Microsecond
			wg.Add(1)
			go func() {
				defer wg.Done()
				rel, err := l.Acquire(context.Background(), Request{})
				if err != nil {
					e, _ := IsShed(err)
					mu.Lock()
					refused[e.Reason]++
					mu.Unlock()
					return
				}
				time.Sleep(ttft)
				rel(Result{Latency: ttft, Holding: true})
				<-closeAll
				rel(Result{Latency: time.Minute})
			}()
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(time.Second)
		s := l.State()
		close(closeAll)
		wg.Wait()
		if len(refused) > 0 || s.Inflight != n {
			t.Errorf("%d of %d streams open, refused %v; limit %.2f", s.Inflight, n, refused, s.Limit)
		}
	})
}

// An upstream that answers in 2 ms, called 2,000 times a second by a
// process whose own scheduling delays some answers by up to 7 ms more (a
// busy 2-core host): latency quadruples now and then, but by less than
// the jitter, and nothing queues at the upstream. The limit must not read
// that as congestion. Judged by the ratio alone (Jitter -1) it does, and
// the limit falls below the calls in flight.
func TestJitterOfAFastUpstreamIsNotCongestion(t *testing.T) {
	run := func(t *testing.T, jitter time.Duration) (lowest float64, refused int) {
		synctest.Test(t, func(t *testing.T) {
			ctl := New(Options{})
			l := ctl.Configure("t", Config{Jitter: jitter})
			rnd := rand.New(rand.NewPCG(5, 6))
			lowest = l.State().Limit
			var wg sync.WaitGroup
			var mu sync.Mutex
			start := time.Now()
			for i := range 10000 { // 5 s
				d := 2 * time.Millisecond
				// 30 ms of every 100 ms the host is busy.
				if time.Since(start)%(100*time.Millisecond) < 30*time.Millisecond {
					d += time.Duration(rnd.IntN(7000)) * time.Microsecond
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
					time.Sleep(d)
					rel(Result{Latency: d, Tokens: 8})
				}()
				time.Sleep(500 * time.Microsecond)
				if i%100 == 0 {
					lowest = min(lowest, l.State().Limit)
				}
			}
			wg.Wait()
		})
		return lowest, refused
	}
	lowest, refused := run(t, 0)
	t.Logf("default jitter: limit down to %.2f, %d of 10000 refused", lowest, refused)
	if lowest < 16 || refused > 0 {
		t.Errorf("limit down to %.2f, %d refused; want it never below the initial 16 and nothing refused", lowest, refused)
	}
	lowest, refused = run(t, -1)
	t.Logf("no jitter: limit down to %.2f, %d of 10000 refused", lowest, refused)
	if lowest >= 8 {
		t.Errorf("without a jitter the limit only fell to %.2f; this test no longer shows what the jitter prevents", lowest)
	}
}

// TryAcquire grants while the limit has room and refuses at once, without
// queueing, when it has none.
func TestTryAcquireNeverWaits(t *testing.T) {
	ctl := New(Options{})
	l := ctl.Configure("t", Config{Initial: 2, Max: 2, CriticalReserve: -1})
	r1, err1 := l.TryAcquire(Request{Class: Critical})
	r2, err2 := l.TryAcquire(Request{Class: Critical})
	if err1 != nil || err2 != nil {
		t.Fatalf("refused within the limit: %v %v", err1, err2)
	}
	if l.HasRoom(Request{Class: Critical}) {
		t.Fatal("HasRoom with the limit's 2 permits held")
	}
	if _, err := l.TryAcquire(Request{Class: Critical}); err == nil {
		t.Fatal("granted a third permit over the limit")
	} else if e, ok := IsShed(err); !ok || e.Reason != ReasonReservedFull {
		t.Fatalf("refusal %v, want reserved_full", err)
	}
	r1(Result{Ignore: true})
	if !l.HasRoom(Request{Class: Critical}) {
		t.Fatal("a permit came back but HasRoom says no")
	}
	r3, err := l.TryAcquire(Request{Class: Critical})
	if err != nil {
		t.Fatal("a permit came back but was not granted")
	}
	r2(Result{Ignore: true})
	r3(Result{Ignore: true})
	if s := l.State(); s.Inflight != 0 || s.Shed["critical"][ReasonReservedFull] != 1 || s.Queued["critical"] != 0 {
		t.Errorf("state %+v", s)
	}
}
