package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/sim"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/shed"
	"github.com/bulwark-ai/bulwark/tenant"
)

// scarce is one target that serves 4 calls at once in 100ms each, with 16
// more queued inside it (their latency grows) and 429 beyond: a capacity C
// of 40 answers a second.
const scarce = `
providers:
  a: {type: sim, models: {m-a: {ttft: {p50: 100ms}, output_tokens: {min: 8, max: 8}, max_concurrency: 4, queue: 16}}}
models:
  - name: chat
    targets: [{provider: a, model: m-a}]
    retry: {backoff: {base: 50ms, max: 200ms}}
`

// newCapacityEnv is the scarce target behind admission control whose
// limit starts below the target's capacity and must learn it.
func newCapacityEnv(t *testing.T) (*env, *shed.Controller) {
	ctl := shed.New(shed.Options{})
	ctl.Configure("a/m-a", shed.Config{Initial: 2, Max: 64, Queue: 64})
	return newObservedEnv(t, scarce, gateway.Options{Capacity: ctl}), ctl
}

// tally is what a group of clients saw.
type tally struct {
	mu       sync.Mutex
	ok, shed int
	// lateShed counts the refusals after the warm-up, the first seconds in
	// which a target's limit is still being learned.
	lateShed int
	// shedErr is the first refusal.
	shedErr error
	other   []error
	latency []time.Duration // of answered requests
}

func (t *tally) p99() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.latency) == 0 {
		return 0
	}
	s := slices.Clone(t.latency)
	slices.Sort(s)
	return s[(len(s)*99)/100]
}

// warmup is how long a target's limit may take to be learned.
const warmup = 2 * time.Second

// clients runs n clients of tenant tn sending class requests with an SLO
// deadline for d; each waits pause after an answer (and 20ms after a
// refusal) before its next request.
func clients(e *env, wg *sync.WaitGroup, n int, tn, class string, slo, pause, d time.Duration) *tally {
	tl := &tally{}
	begin := time.Now()
	end := begin.Add(d)
	for range n {
		wg.Go(func() {
			for time.Now().Before(end) {
				ctx, cancel := context.WithTimeout(context.Background(), slo)
				req := chatReq("chat")
				req.Priority = class
				start := time.Now()
				_, _, err := e.gw.Chat(ctx, tenant.Principal{TenantID: tn}, req)
				cancel()
				tl.mu.Lock()
				switch {
				case err == nil:
					tl.ok++
					tl.latency = append(tl.latency, time.Since(start))
				case errors.Is(err, shed.ErrOverloaded):
					tl.shed++
					if tl.shedErr == nil {
						tl.shedErr = fmt.Errorf("after %s: %w", time.Since(begin), err)
					}
					if time.Since(begin) > warmup {
						tl.lateShed++
					}
				default:
					tl.other = append(tl.other, err)
				}
				tl.mu.Unlock()
				if err == nil {
					time.Sleep(pause)
				} else {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	return tl
}

func TestOverloadIsShedEarlyAndAdmittedRequestsMeetTheirSLO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, ctl := newCapacityEnv(t)
		var wg sync.WaitGroup
		// 40 clients with no think time against a target serving 4 at once:
		// about 10× its capacity.
		tl := clients(e, &wg, 40, "t", "interactive", 300*time.Millisecond, 0, 20*time.Second)
		wg.Wait()
		t.Logf("ok %d shed %d other %d p99 %s limit %+v", tl.ok, tl.shed, len(tl.other), tl.p99(), ctl.Snapshot().Targets[0].Limit)
		// C is 40/s: 20s of it is 800 answers.
		if tl.ok < 680 {
			t.Errorf("goodput %d answers in 20s, want at least 0.85 × 800", tl.ok)
		}
		if tl.shed == 0 {
			t.Error("nothing was shed at 10× capacity")
		}
		if p := tl.p99(); p > 300*time.Millisecond {
			t.Errorf("admitted p99 %s beyond the 300ms SLO", p)
		}
		if n := len(tl.other); n > tl.ok/50 {
			t.Errorf("%d requests failed otherwise than shed (first: %v)", n, tl.other[0])
		}
		if lim := ctl.Snapshot().Targets[0].Limit; lim < 4 || lim > 10 {
			t.Errorf("learned limit %v, want it near the target's 4 slots", lim)
		}
	})
}

func TestCriticalTrafficSurvivesASurge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := newCapacityEnv(t)
		var wg sync.WaitGroup
		crit := clients(e, &wg, 2, "pay", "critical", time.Second, 250*time.Millisecond, 20*time.Second)
		batch := clients(e, &wg, 30, "app", "batch", time.Second, 0, 20*time.Second)
		inter := clients(e, &wg, 20, "app", "interactive", time.Second, 0, 20*time.Second)
		wg.Wait()
		t.Logf("critical ok %d shed %d; interactive ok %d shed %d; batch ok %d shed %d",
			crit.ok, crit.shed, inter.ok, inter.shed, batch.ok, batch.shed)
		if crit.shed != 0 || len(crit.other) != 0 || crit.ok < 100 {
			t.Errorf("critical: ok %d shed %d other %v; want every request served", crit.ok, crit.shed, crit.other)
		}
		if inter.ok < 4*batch.ok {
			t.Errorf("interactive served %d, batch %d: the tenant's batch must be shed first", inter.ok, batch.ok)
		}
	})
}

func TestQuietTenantIsUnaffectedByABurstingOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := newCapacityEnv(t)
		var wg sync.WaitGroup
		quiet := clients(e, &wg, 2, "quiet", "interactive", 500*time.Millisecond, 100*time.Millisecond, 20*time.Second)
		loud := clients(e, &wg, 40, "loud", "interactive", 500*time.Millisecond, 0, 20*time.Second)
		wg.Wait()
		t.Logf("quiet ok %d shed %d p99 %s; loud ok %d shed %d p99 %s", quiet.ok, quiet.shed, quiet.p99(), loud.ok, loud.shed, loud.p99())
		// From the first request on, while the limit is still being
		// learned too, the quiet tenant is refused nothing.
		if quiet.shed != 0 || len(quiet.other) != 0 {
			t.Errorf("quiet tenant: %d served, %d refused (first: %v), other %v; want none refused",
				quiet.ok, quiet.shed, quiet.shedErr, quiet.other)
		}
		// Its calls wait behind at most one permit in Bulwark and share the
		// target with the loud tenant's admitted calls, whose queueing inside
		// the target the latency tolerance (1.5×) allows.
		if p := quiet.p99(); p > 350*time.Millisecond {
			t.Errorf("quiet tenant p99 %s, want within 3.5× the unloaded 100ms (the loud tenant waits up to its 500ms deadline)", p)
		}
		if loud.shed == 0 {
			t.Error("the bursting tenant was never shed")
		}
	})
}

// An upstream 429 with Retry-After pauses its target for everyone: a
// request whose deadline ends within the pause is refused at once, without
// calling the upstream, and one that can wait is served when it ends.
func TestUpstreamRetryAfterPausesTheTarget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := newCapacityEnv(t)
		e.faults("a", "m-a", http429(2*time.Second))
		healAfterFirst(e)
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, _, err := e.chat("chat"); err != nil { // its own retry waits out the 2s
				t.Errorf("the throttled request: %v", err)
			}
		})
		time.Sleep(100 * time.Millisecond)

		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _, err := e.gw.Chat(ctx, tenant.Principal{}, chatReq("chat"))
		cancel()
		var se *shed.Error
		if !errors.As(err, &se) || se.RetryAfter < 1800*time.Millisecond {
			t.Fatalf("err = %v, want a refusal with Retry-After covering the pause", err)
		}
		if d := since(start); d != 0 {
			t.Errorf("refused after %s, want at once", d)
		}
		if n := e.calls("a"); n != 1 {
			t.Errorf("the upstream got %d calls during its pause, want only the first", n)
		}

		start = time.Now()
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, _, err := e.gw.Chat(ctx, tenant.Principal{}, chatReq("chat")); err != nil {
			t.Fatalf("a request that can wait out the pause: %v", err)
		}
		if d := since(start); d < 1900*time.Millisecond {
			t.Errorf("served after %s, before the pause ended", d)
		}
		wg.Wait()
	})
}

// A stream holds its process slot and its target permit until it ends,
// then gives both back.
func TestStreamHoldsItsPermitUntilItEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, ctl := newCapacityEnv(t)
		s := e.stream("chat", false)
		if !s.done() {
			t.Fatalf("stream did not end with [DONE]: %v", s.events)
		}
		snap := ctl.Snapshot()
		if snap.Inflight != 0 || snap.Targets[0].Inflight != 0 || snap.Targets[0].Admitted["interactive"] != 1 {
			t.Errorf("after the stream: %+v", snap)
		}
	})
}

// A request whose own deadline — the client's, or the route's total
// timeout — ends an attempt says nothing about the target: its breaker
// stays closed. An attempt timeout, which only the target's silence
// explains, counts against it.
func TestRequestDeadlineIsNotABreakerFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, `
providers:
  a: {type: sim, models: {slow: {ttft: {p50: 300ms}}, slow-total: {ttft: {p50: 300ms}}, slow-attempt: {ttft: {p50: 300ms}}}}
models:
  - name: client-deadline
    targets: [{provider: a, model: slow}]
    breaker: {consecutive_failures: 3, open_for: 10s}
  - name: total-timeout
    targets: [{provider: a, model: slow-total}]
    timeouts: {total: 100ms}
    breaker: {consecutive_failures: 3, open_for: 10s}
  - name: attempt-timeout
    targets: [{provider: a, model: slow-attempt}]
    timeouts: {attempt: 100ms}
    breaker: {consecutive_failures: 3, open_for: 10s}
`)
		for range 5 {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			_, _, err := e.gw.Chat(ctx, tenant.Principal{}, chatReq("client-deadline"))
			cancel()
			if err == nil {
				t.Fatal("a 300ms call answered within a 100ms deadline")
			}
			if _, _, err := e.chat("total-timeout"); err == nil {
				t.Fatal("a 300ms call answered within a 100ms total timeout")
			}
		}
		for _, target := range []string{"a/slow", "a/slow-total"} {
			if got := breakerOf(e.table, target); got != "closed" {
				t.Errorf("breaker of %s is %s after requests cut by their own deadline, want closed", target, got)
			}
		}
		for range 3 {
			if _, _, err := e.chat("attempt-timeout"); err == nil {
				t.Fatal("a 300ms call answered within a 100ms attempt timeout")
			}
		}
		if got := breakerOf(e.table, "a/slow-attempt"); got != "open" {
			t.Errorf("breaker of a/slow-attempt is %s after 3 attempt timeouts, want open", got)
		}
	})
}

// silent429 is an upstream that states its rate limit on every answer
// (x-ratelimit-*) but sends no Retry-After with its 429s, as many
// OpenAI-compatible servers do.
type silent429 struct{ *sim.Sim }

func (p silent429) Chat(ctx context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	resp, err := p.Sim.Chat(ctx, req)
	var e *llm.Error
	if errors.As(err, &e) {
		c := *e
		c.RetryAfter = 0
		return nil, &c
	}
	return resp, err
}

// With the upstream's x-ratelimit-* statements heeded (the default),
// Bulwark stops sending once the upstream says its limit is used up, so
// the upstream refuses far fewer calls than when Bulwark learns of the
// limit only from the upstream's 429s.
func TestRateLimitHeadersSlowBulwarkBeforeTheUpstreamRefuses(t *testing.T) {
	const limited = `
disable_builtin_sim: true
providers:
  a: {type: sim, models: {m: {ttft: {p50: 200ms}, output_tokens: {min: 4, max: 4}, rpm: 120}}}
models:
  - name: chat
    targets: [{provider: a, model: m}]
    breaker: {consecutive_failures: 1000000}
`
	run := func(ignore bool) (ok, refused int) {
		synctest.Test(t, func(t *testing.T) {
			cfg, err := config.Parse([]byte(limited), nil)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Models = builtinModelsOff(cfg.Models)
			// The simulator reports its limits as a client reads them from
			// its headers.
			clients := map[string]llm.Provider{"a": silent429{sim.New("a", 1, cfg.Providers["a"].SimModels)}}
			tbl, err := route.New(cfg.Models, clients, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctl := shed.New(shed.Options{})
			ctl.Configure("a/m", shed.Config{Initial: 8, Max: 8, IgnoreHeadroom: ignore})
			gw := gateway.New(tbl, gateway.Options{Capacity: ctl})
			var mu sync.Mutex
			var wg sync.WaitGroup
			end := time.Now().Add(3 * time.Minute)
			for range 8 {
				wg.Go(func() {
					for time.Now().Before(end) {
						ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
						_, out, err := gw.Chat(ctx, tenant.Principal{}, chatReq("chat"))
						cancel()
						mu.Lock()
						if err == nil {
							ok++
						}
						for _, a := range out.Tried {
							if a.Status == http.StatusTooManyRequests && !errors.Is(a.Err, shed.ErrOverloaded) {
								refused++
							}
						}
						mu.Unlock()
						if err != nil {
							time.Sleep(100 * time.Millisecond)
						}
					}
				})
			}
			wg.Wait()
		})
		return ok, refused
	}
	heedOK, heed429 := run(false)
	ignoreOK, ignore429 := run(true)
	t.Logf("heeding the headers: %d answered, %d upstream 429s; ignoring them: %d answered, %d upstream 429s", heedOK, heed429, ignoreOK, ignore429)
	// 120 a minute for 3 minutes.
	if heedOK < 300 || ignoreOK < 300 {
		t.Errorf("answered %d and %d, want most of the 360 the limit allows", heedOK, ignoreOK)
	}
	if ignore429 == 0 || heed429*4 > ignore429 {
		t.Errorf("upstream 429s: %d heeding the headers, %d ignoring them; want at most a quarter", heed429, ignore429)
	}
}
