package chaos_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/tenant"
)

// twoSims is a primary alias "chat" on provider a with the general
// fallback "backup" on provider b; the models answer non-streamed calls in
// 100ms.
const twoSims = `
providers:
  a: {type: sim, models: {m-a: {ttft: {p50: 100ms}, output_tokens: {min: 8, max: 8}}}}
  b: {type: sim, models: {m-b: {ttft: {p50: 100ms}, output_tokens: {min: 8, max: 8}}}}
models:
  - name: chat
    targets: [{provider: a, model: m-a}]
    fallbacks: [backup]
    retry: {backoff: {base: 100ms, max: 1s}}
  - name: backup
    targets: [{provider: b, model: m-b}]
  - name: alone
    targets: [{provider: a, model: m-a}]
    retry: {backoff: {base: 100ms, max: 1s}}
`

func http429(retryAfter time.Duration) config.Faults {
	return config.Faults{ErrorRates: map[int]float64{429: 1}, RetryAfter: config.Duration(retryAfter)}
}

func status(code int) config.Faults { return config.Faults{ErrorRates: map[int]float64{code: 1}} }

// healAfterFirst clears provider a's faults after its first call.
func healAfterFirst(e *env) {
	e.after("a", func(n int64) {
		if n == 1 {
			e.faults("a", "m-a", config.Faults{})
		}
	})
}

// An alias with no other target to go to waits out the Retry-After and
// retries the same target.
func TestRateLimitedWithRetryAfterWaitsThenRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, twoSims)
		e.faults("a", "m-a", http429(2*time.Second))
		healAfterFirst(e)
		start := time.Now()
		_, out, err := e.chat("alone")
		if err != nil {
			t.Fatal(err)
		}
		if got := targets(out); got != "a/m-a,a/m-a" {
			t.Errorf("attempts = %s, want the same target twice", got)
		}
		// Retry-After 2s honoured: the retry came ≥2s after the 429, not in
		// a tight loop; two answers of 100ms each.
		// The 429 comes at once; the answer takes 100ms.
		if d := since(start); d != 2100*time.Millisecond {
			t.Errorf("took %s, want 2s Retry-After + 100ms", d)
		}
	})
}

// With a fallback to go to, a Retry-After within max_retry_after is not
// waited out: the target cools down and the request fails over at once;
// the next requests skip the target until its cooldown ends.
func TestRateLimitedWithRetryAfterFailsOverWhileTheTargetCoolsDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, twoSims)
		e.faults("a", "m-a", http429(2*time.Second))
		start := time.Now()
		_, out, err := e.chat("chat")
		if err != nil {
			t.Fatal(err)
		}
		// The 429 comes at once; b answers in 100ms.
		if got, d := targets(out), since(start); got != "a/m-a,b/m-b" || d != 100*time.Millisecond {
			t.Errorf("attempts = %s in %s, want a failover to b without waiting", got, d)
		}
		for range 3 {
			if _, out, err := e.chat("chat"); err != nil || targets(out) != "b/m-b" {
				t.Errorf("during the cooldown: attempts = %s, %v; want b only", targets(out), err)
			}
		}
		if n := e.calls("a"); n != 1 {
			t.Errorf("a got %d calls during its cooldown, want the first only", n)
		}
		time.Sleep(2 * time.Second)
		e.faults("a", "m-a", config.Faults{})
		if _, out, err := e.chat("chat"); err != nil || targets(out) != "a/m-a" {
			t.Errorf("after the cooldown: attempts = %s, %v; want a again", targets(out), err)
		}
	})
}

func TestRateLimitedBeyondMaxRetryAfterFailsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, twoSims)
		e.faults("a", "m-a", http429(time.Minute)) // beyond max_retry_after (10s)
		start := time.Now()
		_, out, err := e.chat("chat")
		if err != nil {
			t.Fatal(err)
		}
		if got := targets(out); got != "a/m-a,b/m-b" {
			t.Errorf("attempts = %s, want a failover without waiting", got)
		}
		if d := since(start); d > time.Second {
			t.Errorf("took %s: waited for a Retry-After beyond the maximum", d)
		}
	})
}

func TestRateLimitedPersistentIsBoundedThenFallsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, twoSims)
		e.faults("a", "m-a", http429(0))
		start := time.Now()
		resp, out, err := e.chat("chat")
		if err != nil {
			t.Fatal(err)
		}
		if got := targets(out); got != "a/m-a,a/m-a,b/m-b" {
			t.Errorf("attempts = %s, want one jittered retry on a, then the fallback", got)
		}
		if resp.Model != "m-b" || out.Target.Name() != "b/m-b" {
			t.Errorf("answered by %s (%s), want the fallback", resp.Model, out.Target.Name())
		}
		// Backoff with full jitter: one wait of at most base (100ms).
		if d := since(start); d > 3*100*time.Millisecond+100*time.Millisecond {
			t.Errorf("took %s", d)
		}

		// Without a fallback: a clean 429 that lists every attempt.
		_, out, err = e.chat("alone")
		var ae *gateway.AttemptsError
		if !errors.As(err, &ae) || len(ae.Attempts) != 2 || out.Attempts != 2 {
			t.Fatalf("err = %v, attempts %d; want an AttemptsError with 2 attempts", err, out.Attempts)
		}
		he := api.AsError(err)
		if he.Status != http.StatusTooManyRequests || !strings.Contains(he.Message, "2 attempts: a/m-a rate_limited 429") {
			t.Errorf("mapped to %d %q", he.Status, he.Message)
		}
	})
}

func TestServerErrorOnceThenSameTargetSucceeds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, twoSims)
		e.faults("a", "m-a", status(500))
		healAfterFirst(e)
		_, out, err := e.chat("chat")
		if err != nil {
			t.Fatal(err)
		}
		if got := targets(out); got != "a/m-a,a/m-a" || out.Tried[0].Kind != llm.KindServer || out.Tried[0].Status != 500 {
			t.Errorf("attempts = %s (%v)", got, out.Tried)
		}
		if e.calls("b") != 0 {
			t.Error("the fallback was called")
		}
	})
}

func TestOverloadedPersistentFallsBackWithinBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, twoSims)
		e.faults("a", "m-a", status(503))
		for i := range 10 {
			_, out, err := e.chat("chat")
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			if out.Target.Name() != "b/m-b" {
				t.Fatalf("request %d answered by %s", i, out.Target.Name())
			}
			time.Sleep(time.Second)
		}
		// Same-target retries are bounded by a's retry budget (3 a window,
		// 20% beyond) and its breaker (open after 5 failures in a row):
		// far fewer than 10 requests × 2 attempts.
		if n := e.calls("a"); n > 8 {
			t.Errorf("a was called %d times for 10 requests", n)
		}
	})
}

func TestConnectionResetBeforeHeadersRetriedThenFailsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, twoSims)
		e.faults("a", "m-a", config.Faults{Reset: config.Fault{Rate: 1}})
		_, out, err := e.chat("chat")
		if err != nil {
			t.Fatal(err)
		}
		if got := targets(out); got != "a/m-a,a/m-a,b/m-b" || out.Tried[0].Kind != llm.KindConnection {
			t.Errorf("attempts = %s (%v)", got, out.Tried)
		}
	})
}

func TestSilentTargetTimesOutAndFailsOverWithoutRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, strings.Replace(twoSims, "    fallbacks: [backup]\n", "    fallbacks: [backup]\n    timeouts: {attempt: 2s}\n", 1))
		e.faults("a", "m-a", config.Faults{Hang: config.Fault{Rate: 1}})
		start := time.Now()
		_, out, err := e.chat("chat")
		if err != nil {
			t.Fatal(err)
		}
		if got := targets(out); got != "a/m-a,b/m-b" || out.Tried[0].Kind != llm.KindTimeout {
			t.Errorf("attempts = %s (%v); a silent target must not be retried", got, out.Tried)
		}
		if d := since(start); d != 2100*time.Millisecond {
			t.Errorf("took %s, want the 2s attempt timeout + 100ms", d)
		}
	})
}

func TestTotalTimeoutBoundsAHangWithoutFallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, strings.Replace(twoSims, "  - name: alone\n", "  - name: alone\n    timeouts: {total: 5s}\n", 1))
		e.faults("a", "m-a", config.Faults{Hang: config.Fault{Rate: 1}})
		start := time.Now()
		_, _, err := e.chat("alone")
		if llm.KindOf(err) != llm.KindTimeout || api.AsError(err).Status != http.StatusGatewayTimeout {
			t.Fatalf("err = %v", err)
		}
		if d := since(start); d != 5*time.Second {
			t.Errorf("took %s, want the 5s total", d)
		}
	})
}

const contextCfg = `
providers:
  a: {type: sim, models: {small: {context_window: 8}, big: {}}}
  b: {type: sim, models: {m-b: {}}}
models:
  - name: chat
    targets: [{provider: a, model: small}]
    fallbacks: [backup]
    fallback_on: {context_length: [large]}
  - name: strict
    targets: [{provider: a, model: small}]
    fallbacks: [backup]
  - name: large
    targets: [{provider: a, model: big}]
  - name: backup
    targets: [{provider: b, model: m-b}]
`

func longReq(alias string) *llm.ChatRequest {
	return &llm.ChatRequest{Model: alias, Messages: []llm.Message{{Role: "user", Content: strings.Repeat("many words here ", 40)}}}
}

func TestContextLengthGoesOnceToTheLargerAlias(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, contextCfg)
		resp, out, err := e.gw.Chat(t.Context(), tenantAll, longReq("chat"))
		if err != nil {
			t.Fatal(err)
		}
		if got := targets(out); got != "a/small,a/big" || out.Tried[0].Kind != llm.KindContextLength {
			t.Errorf("attempts = %s (%v)", got, out.Tried)
		}
		if resp.Model != "big" {
			t.Errorf("answered by %s", resp.Model)
		}

		// No typed fallback: exactly one attempt, the general fallbacks are
		// not tried, and the client gets a 400 context_length_exceeded.
		_, out, err = e.gw.Chat(t.Context(), tenantAll, longReq("strict"))
		if got := targets(out); got != "a/small" {
			t.Errorf("attempts = %s, want exactly one", got)
		}
		if he := api.AsError(err); he.Status != 400 || he.Code != "context_length_exceeded" {
			t.Errorf("mapped to %d %s", he.Status, he.Code)
		}
		if e.calls("b") != 0 {
			t.Error("a general fallback was tried for a context-length failure")
		}
	})
}

func TestContentFilterIsNotRetriedAndReasonPropagates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, twoSims)
		e.faults("a", "m-a", config.Faults{ContentFilter: config.Fault{Rate: 1}})
		_, out, err := e.chat("chat")
		if got := targets(out); got != "a/m-a" {
			t.Errorf("attempts = %s, want exactly one", got)
		}
		he := api.AsError(err)
		if he.Status != 400 || he.Code != "content_filter" || !strings.Contains(he.Message, "content management policy") {
			t.Errorf("mapped to %d %s %q", he.Status, he.Code, he.Message)
		}
	})
}

func TestFallbackAccountingNamesTheAnsweringModel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, twoSims)
		e.faults("a", "m-a", status(503))
		resp, out, err := e.chat("chat")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Model != "m-b" || !strings.Contains(string(resp.Body), `"model":"m-b"`) {
			t.Errorf("model = %s; body %s", resp.Model, resp.Body)
		}
		if resp.Usage.CompletionTokens != 8 || out.Target.Name() != "b/m-b" || out.Attempts != 3 {
			t.Errorf("usage %+v, target %s, attempts %d", resp.Usage, out.Target.Name(), out.Attempts)
		}
		for _, a := range out.Tried[:2] {
			if a.Err == nil || a.Target != "a/m-a" {
				t.Errorf("failed attempt recorded as %v", a)
			}
		}
	})
}

const hedgeCfg = `
providers:
  a: {type: sim, models: {slow: {ttft: {p50: 5s}}}}
  b: {type: sim, models: {fast: {ttft: {p50: 100ms}}}}
models:
  - name: chat
    # a is (all but) always the first pick, so that the hedge goes to b.
    targets: [{provider: a, model: slow, weight: 1000000}, {provider: b, model: fast}]
    balance: weighted
    hedge: {delay: 1s}
`

func TestHedgeTakesTheFirstSuccessAndCancelsTheOther(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, hedgeCfg)
		for range 6 {
			time.Sleep(30 * time.Second) // a fresh retry budget: hedges spend it
			start := time.Now()
			_, out, err := e.chat("chat")
			if err != nil {
				t.Fatal(err)
			}
			if out.Target.Name() != "b/fast" {
				t.Fatalf("answered by %s: %v", out.Target.Name(), out.Tried)
			}
			// a first, b hedged after 1s and answering 100ms later; a canceled.
			d := since(start)
			if d != 1100*time.Millisecond || out.Attempts != 2 || !out.Tried[1].Hedge || out.Tried[0].Kind != llm.KindCanceled {
				t.Errorf("took %s; attempts %v", d, out.Tried)
			}
		}
	})
}

func TestHedgesAreBoundedByTheRetryBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, hedgeCfg)
		hedges := 0
		for range 20 {
			_, out, err := e.chat("chat")
			if err != nil {
				t.Fatal(err)
			}
			if out.Attempts == 2 {
				hedges++
			}
		}
		// b's budget allows 3 hedges per 10s window (20% of its requests
		// beyond that); once spent, a answers alone after 5s.
		if hedges < 3 || hedges > 12 {
			t.Errorf("%d hedges in 20 back-to-back requests", hedges)
		}
	})
}

var tenantAll = tenant.Principal{}
