package gateway

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/shed"
	"github.com/bulwark-ai/bulwark/tenant"
)

// A target whose queue refuses the attempt is failed over without a
// retry and without counting against its breaker; when no target can
// take the request, its error unwraps to the refusal.
func TestShedAttemptFailsOverAndEndsWithTheRefusal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, a, b := gw(t, nil)
		ctl := shed.New(shed.Options{})
		g.capacity = ctl
		full := ctl.Configure("a/ma", shed.Config{Initial: 1, Max: 1, Queue: 1, CriticalReserve: -1})
		hold, err := full.Acquire(context.Background(), shed.Request{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		// a's one permit is held and a batch request waits in its queue.
		waiter := make(chan error, 1)
		go func() {
			_, err := full.Acquire(ctx, shed.Request{Class: shed.Batch})
			waiter <- err
		}()
		synctest.Wait()

		_, out, err := g.Chat(ctx, tenant.Principal{TenantID: "t"}, req())
		if err != nil {
			t.Fatalf("chat: %v (attempts %v)", err, out.Tried)
		}
		if a.calls.Load() != 0 || b.calls.Load() != 1 || out.Target.Name() != "b/mb" {
			t.Errorf("a %d calls, b %d, answered by %v", a.calls.Load(), b.calls.Load(), out.Tried)
		}
		// The interactive attempt displaced the queued batch waiter, waited
		// while its deadline left room for a call, was refused
		// (queue_wait) and failed over.
		if e, ok := shed.IsShed(<-waiter); !ok || e.Reason != shed.ReasonDisplaced {
			t.Errorf("the batch waiter: %v", e)
		}
		if s := g.Routes().States()[0]; s.Breaker.Failures != 0 {
			t.Errorf("a's breaker counted %d failures for a refusal", s.Breaker.Failures)
		}

		// b full too: the request ends with the refusal.
		fullB := ctl.Configure("b/mb", shed.Config{Initial: 1, Max: 1, Queue: 1, CriticalReserve: -1})
		holdB, _ := fullB.Acquire(context.Background(), shed.Request{})
		for _, l := range []*shed.Limiter{full, fullB} { // fill both queues with interactive waiters
			go l.Acquire(ctx, shed.Request{Tenant: "other"})
		}
		synctest.Wait()
		_, _, err = g.Chat(ctx, tenant.Principal{TenantID: "t"}, req())
		var se *shed.Error
		if !errors.As(err, &se) || !errors.Is(err, shed.ErrOverloaded) || llm.KindOf(err) != llm.KindOverloaded {
			t.Fatalf("err = %v, want the refusal as an overloaded error", err)
		}
		hold(shed.Result{Ignore: true})
		holdB(shed.Result{Ignore: true})
		cancel()
	})
}

func TestPriorityResolvesFromTheRequest(t *testing.T) {
	g, _, _ := gw(t, nil)
	rq := &request{g: g}
	if _, err := g.admit(rq, tenant.Principal{Priority: "interactive"}, "critical", ""); err != nil || rq.class != shed.Interactive {
		t.Errorf("a key set to interactive asked for critical: %s %v", rq.class, err)
	}
	if _, err := g.admit(rq, tenant.Principal{}, "", "flex"); err != nil || rq.class != shed.Batch {
		t.Errorf("service_tier flex: %s %v", rq.class, err)
	}
}

// A half-open breaker's probe whose client leaves while it waits in the
// target's queue gives its permit back (the breaker opens again), so the
// target is probed again later instead of being shut out for good.
func TestProbeLeftInTheQueueDoesNotHoldTheHalfOpenBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, a, _ := gw(t, nil)
		ctl := shed.New(shed.Options{})
		g.capacity = ctl
		r, _ := g.Routes().Lookup("chat")
		br := r.Targets[0].Health.Breaker
		for i := 0; br.State().State != "open"; i++ {
			if i > 1000 {
				t.Fatal("the breaker does not open")
			}
			br.Failure()
		}
		// Ready: open_for has passed, the next Allow turns it half-open
		// and takes its probe permit.
		waitReady := func() {
			for i := 0; !br.Ready(); i++ {
				if i > 3600 {
					t.Fatal("the breaker stays open")
				}
				time.Sleep(time.Second)
			}
		}
		waitReady()

		// a's one permit is held: the probe queues, and its client leaves.
		full := ctl.Configure("a/ma", shed.Config{Initial: 1, Max: 1, Queue: 1, CriticalReserve: -1})
		hold, err := full.Acquire(context.Background(), shed.Request{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			time.Sleep(100 * time.Millisecond)
			cancel()
		}()
		if _, _, err := g.Chat(ctx, tenant.Principal{TenantID: "t"}, req()); err == nil {
			t.Fatal("a request whose client left was answered")
		}
		hold(shed.Result{Ignore: true})
		if a.calls.Load() != 0 {
			t.Fatalf("a was called %d times while its permit was held", a.calls.Load())
		}

		waitReady()
		if _, out, err := g.Chat(context.Background(), tenant.Principal{TenantID: "t"}, req()); err != nil || out.Target.Name() != "a/ma" {
			t.Fatalf("after the abandoned probe: %v, tried %v; want a probed again", err, out.Tried)
		}
		if got := br.State().State; got != "closed" {
			t.Errorf("breaker %s after a successful probe; want closed", got)
		}
	})
}

// A whole answer teaches the limit its latency with its output tokens, so
// the limit judges latency per token; a stream's time to first content
// comes without them.
func TestLearnFromCountsAWholeAnswersTokens(t *testing.T) {
	tg := &route.Target{}
	a := Attempt{Duration: 400 * time.Millisecond}
	if res := learnFrom(a, tg, &llm.ChatResponse{Usage: llm.Usage{CompletionTokens: 40}}); res.Latency != a.Duration || res.Tokens != 40 || res.Ignore {
		t.Errorf("whole answer: %+v, want its latency with 40 tokens", res)
	}
	if res := learnFrom(a, tg, &relay{}); res.Latency != a.Duration || res.Tokens != 0 || res.Ignore {
		t.Errorf("stream: %+v, want its time to first content without tokens", res)
	}
}
