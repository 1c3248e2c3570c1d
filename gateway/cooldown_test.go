package gateway

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/shed"
	"github.com/bulwark-ai/bulwark/telemetry"
	"github.com/bulwark-ai/bulwark/tenant"
)

// regions builds a gateway over fakes "a" and "b", two regions of one
// model: alias "chat" on both (a is picked while it may be) and alias
// "solo" on a alone. Its metrics are returned too.
func regions(t *testing.T) (*Gateway, *fake, *fake, *telemetry.Metrics) {
	t.Helper()
	a, b := &fake{name: "a"}, &fake{name: "b"}
	models := []config.Model{
		{Name: "chat", Balance: config.BalanceWeighted, Targets: []config.Target{{Provider: "a", Model: "ma"}, {Provider: "b", Model: "mb"}}},
		{Name: "solo", Targets: []config.Target{{Provider: "a", Model: "ma"}}},
	}
	tbl, err := route.New(models, map[string]llm.Provider{"a": a, "b": b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := telemetry.NewMetrics(telemetry.MetricsOptions{NoProcessMetrics: true})
	g := New(tbl, Options{Metrics: m})
	g.rnd = func(int) int { return 0 } // the first candidate
	return g, a, b, m
}

// tried lists the targets of a request's attempts, in order.
func tried(out Outcome) []string {
	var s []string
	for _, a := range out.Tried {
		s = append(s, a.Target)
	}
	return s
}

// cooldowns reads bulwark_target_cooldowns_total for target p/m.
func cooldowns(t *testing.T, m *telemetry.Metrics, p, model string) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, f := range fams {
		if f.GetName() != "bulwark_target_cooldowns_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			l := map[string]string{}
			for _, lp := range s.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["provider"] == p && l["model"] == model {
				n += s.GetCounter().GetValue()
			}
		}
	}
	return n
}

func rateLimited(after time.Duration) *llm.Error {
	return &llm.Error{Kind: llm.KindRateLimited, Status: 429, RetryAfter: after}
}

// A target answering 429 with a Retry-After is cooled down, and the
// request goes to the alias's other target at once instead of waiting it
// out: one attempt on each, none repeated.
func TestRateLimitedTargetFailsOverAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, a, b, m := regions(t)
		a.err = rateLimited(2 * time.Second)
		sr := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
		defer tp.Shutdown(context.Background())
		ctx, span := tp.Tracer("test").Start(context.Background(), "request")
		_, out, err := g.Chat(ctx, tenant.Principal{}, chatReq("chat", ""))
		span.End()
		if err != nil || !slices.Equal(tried(out), []string{"a/ma", "b/mb"}) || out.Target.Name() != "b/mb" {
			t.Fatalf("err %v, attempts %v; want a then b, served by b", err, out.Tried)
		}
		if a.calls.Load() != 1 || b.calls.Load() != 1 {
			t.Errorf("a called %d times, b %d; want once each", a.calls.Load(), b.calls.Load())
		}
		r, _ := g.Routes().Lookup("chat")
		if !r.Targets[0].Health.Cooldown.Active() || r.Targets[1].Health.Cooldown.Active() {
			t.Errorf("cooldowns: a %s, b %s; want a's only", r.Targets[0].Health.Cooldown.Left(), r.Targets[1].Health.Cooldown.Left())
		}
		if n := cooldowns(t, m, "a", "ma"); n != 1 {
			t.Errorf("bulwark_target_cooldowns_total for a = %v, want 1", n)
		}
		var marked int
		for _, s := range sr.Ended() {
			for _, kv := range s.Attributes() {
				if kv.Key == telemetry.AttrCooldown && kv.Value.AsFloat64() == 2000 {
					marked++
				}
			}
		}
		if marked != 1 {
			t.Errorf("%d spans carry %s=2000, want a's attempt", marked, telemetry.AttrCooldown)
		}
	})
}

// While a cools down, the requests that come after the first 429 do not
// call it at all, however many arrive at once.
func TestCooledDownTargetIsSkippedByOtherRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, a, b, _ := regions(t)
		a.err = rateLimited(2 * time.Second)
		if _, _, err := g.Chat(t.Context(), tenant.Principal{}, chatReq("chat", "")); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		outs := make([]Outcome, 8)
		errs := make([]error, len(outs))
		for i := range outs {
			wg.Go(func() { _, outs[i], errs[i] = g.Chat(t.Context(), tenant.Principal{}, chatReq("chat", "")) })
		}
		wg.Wait()
		for i, out := range outs {
			if errs[i] != nil || !slices.Equal(tried(out), []string{"b/mb"}) {
				t.Errorf("request %d: err %v, attempts %v; want b only", i, errs[i], out.Tried)
			}
		}
		if a.calls.Load() != 1 || b.calls.Load() != int64(1+len(outs)) {
			t.Errorf("a called %d times, b %d; want a once (the first request's)", a.calls.Load(), b.calls.Load())
		}
	})
}

// An alias with no other target waits out the Retry-After and retries the
// same target, as it always did.
func TestSingleTargetAliasStillWaitsAndRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, a, b, _ := regions(t)
		a.err, a.failFirst = rateLimited(2*time.Second), 1
		start := time.Now()
		_, out, err := g.Chat(t.Context(), tenant.Principal{}, chatReq("solo", ""))
		if err != nil || !slices.Equal(tried(out), []string{"a/ma", "a/ma"}) || out.Tried[0].Kind != llm.KindRateLimited {
			t.Fatalf("err %v, attempts %v; want a rate limited, then a", err, out.Tried)
		}
		// synctest's clock: the retry came after the Retry-After, not before.
		if waited := time.Since(start); waited != 2*time.Second {
			t.Errorf("retried after %s, want the Retry-After of 2s", waited)
		}
		if b.calls.Load() != 0 {
			t.Errorf("b called %d times by an alias it is not in", b.calls.Load())
		}
	})
}

// Once the cooldown has run out, the target is picked again.
func TestCooledDownTargetIsPickedAgainWhenItEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, a, _, _ := regions(t)
		a.err, a.failFirst = rateLimited(2*time.Second), 1
		if _, out, err := g.Chat(t.Context(), tenant.Principal{}, chatReq("chat", "")); err != nil || out.Target.Name() != "b/mb" {
			t.Fatalf("err %v, attempts %v", err, out.Tried)
		}
		time.Sleep(time.Second)
		if _, out, _ := g.Chat(t.Context(), tenant.Principal{}, chatReq("chat", "")); out.Target.Name() != "b/mb" {
			t.Fatalf("a second into the cooldown: attempts %v; want b", out.Tried)
		}
		time.Sleep(time.Second)
		_, out, err := g.Chat(t.Context(), tenant.Principal{}, chatReq("chat", ""))
		if err != nil || !slices.Equal(tried(out), []string{"a/ma"}) || a.calls.Load() != 2 {
			t.Errorf("after the cooldown: err %v, attempts %v, a called %d times; want a again", err, out.Tried, a.calls.Load())
		}
	})
}

// When every target within reach cools down, targets are picked and
// called as without cooldowns, and a rate-limited one is retried after
// its Retry-After: there is nowhere better to go.
func TestEveryTargetCoolingDownIsPickedAsBefore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, a, b, _ := regions(t)
		b.err = rateLimited(time.Second)
		r, _ := g.Routes().Lookup("chat")
		r.Targets[1].Health.Cooldown.Start(3 * time.Second)
		a.err, a.failFirst = rateLimited(2*time.Second), 1
		_, out, err := g.Chat(t.Context(), tenant.Principal{}, chatReq("chat", ""))
		if err != nil || !slices.Equal(tried(out), []string{"a/ma", "a/ma"}) || b.calls.Load() != 0 {
			t.Errorf("err %v, attempts %v, b called %d times; want a, then a again", err, out.Tried, b.calls.Load())
		}
	})
}

// A request waiting in a's queue leaves it as a begins to cool down and
// goes to b; on an alias with no other target it keeps its place.
func TestQueuedRequestLeavesATargetThatCoolsDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, a, b, _ := regions(t)
		ctl := shed.New(shed.Options{})
		g.capacity = ctl
		lim := ctl.Configure("a/ma", shed.Config{Initial: 1, Max: 1, Queue: 4, CriticalReserve: -1})
		hold, err := lim.Acquire(context.Background(), shed.Request{})
		if err != nil {
			t.Fatal(err)
		}
		type answer struct {
			out Outcome
			err error
		}
		ask := func(alias string) chan answer {
			c := make(chan answer, 1)
			go func() {
				_, out, err := g.Chat(t.Context(), tenant.Principal{TenantID: "t"}, chatReq(alias, ""))
				c <- answer{out, err}
			}()
			return c
		}
		chat, solo := ask("chat"), ask("solo")
		synctest.Wait() // both wait for a's permit
		if st := lim.State(); st.Queued["interactive"] != 2 {
			t.Fatalf("a's queue: %+v; want both requests waiting", st)
		}

		r, _ := g.Routes().Lookup("chat")
		r.Targets[0].Health.Cooldown.Start(2 * time.Second) // as an attempt answered 429 does
		synctest.Wait()
		select {
		case got := <-chat:
			if got.err != nil || !slices.Equal(tried(got.out), []string{"a/ma", "b/mb"}) || !errors.Is(got.out.Tried[0].Err, errCooledDown) {
				t.Errorf("chat: err %v, attempts %v; want a's wait cut short, then b", got.err, got.out.Tried)
			}
		default:
			t.Fatal("the chat request still waits for a")
		}
		select {
		case got := <-solo:
			t.Fatalf("solo left a's queue: err %v, attempts %v", got.err, got.out.Tried)
		default:
		}

		hold(shed.Result{Ignore: true})
		if got := <-solo; got.err != nil || !slices.Equal(tried(got.out), []string{"a/ma"}) {
			t.Errorf("solo: err %v, attempts %v; want a", got.err, got.out.Tried)
		}
		if a.calls.Load() != 1 || b.calls.Load() != 1 {
			t.Errorf("a called %d times, b %d; want once each", a.calls.Load(), b.calls.Load())
		}
	})
}
