package chaos_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/shed"
	"github.com/bulwark-ai/bulwark/tenant"
)

// slow400 is one target answering in 400ms, two calls at once.
const slow400 = `
providers:
  a: {type: sim, models: {m-a: {ttft: {p50: 400ms}, output_tokens: {min: 8, max: 8}, max_concurrency: 2}}}
models:
  - name: chat
    targets: [{provider: a, model: m-a}]
    retry: {per_target: 3, backoff: {base: 100ms, max: 100ms}, budget: {min_retries: 100}}
    breaker: {consecutive_failures: 1000}
`

// answer is what a client saw of one non-streaming call.
type answer struct {
	status     int
	retryAfter string
	took       time.Duration
	attempts   string
}

// post sends a non-streaming chat completion through the OpenAI API
// handler with the given request headers.
func (e *env) post(headers map[string]string) answer {
	r := httptest.NewRequest("POST", "/v1/chat/completions",
		strings.NewReader(`{"model":"chat","messages":[{"role":"user","content":"hello there"}]}`))
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	start := time.Now()
	e.api.Routes()["POST /v1/chat/completions"](w, r, tenant.Principal{})
	return answer{status: w.Code, retryAfter: w.Header().Get("Retry-After"), took: since(start), attempts: w.Header().Get("X-Bulwark-Attempts")}
}

// warm serves n requests one after the other, so that the target's
// latency is known.
func (e *env) warm(n int) {
	e.t.Helper()
	for range n {
		if _, _, err := e.chat("chat"); err != nil {
			e.t.Fatal(err)
		}
	}
}

// Clients whose SDK waits one second (X-Stainless-Timeout: 1) burst onto a
// 400ms target that serves two at a time: those that can be answered in
// time are, and those that cannot are refused at once with a 503 and
// Retry-After; no call is answered after its client gave up, and the
// upstream is never called for a request that cannot make it.
func TestClientDeadlineIsBulwarksDeadlineAtCapacity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctl := shed.New(shed.Options{})
		ctl.Configure("a/m-a", shed.Config{Initial: 2, Min: 2, Max: 2, CriticalReserve: -1})
		e := newObservedEnv(t, slow400, gateway.Options{Capacity: ctl})
		e.warm(3)
		before := e.calls("a")

		const n = 10
		answers := make([]answer, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { answers[i] = e.post(map[string]string{"X-Stainless-Timeout": "1"}) })
		}
		wg.Wait()

		ok := 0
		for i, a := range answers {
			switch {
			case a.status == http.StatusOK:
				ok++
				if a.took > time.Second {
					t.Errorf("request %d answered after %s, past its client's 1s", i, a.took)
				}
			case a.status != http.StatusServiceUnavailable || a.retryAfter == "":
				t.Errorf("request %d: status %d Retry-After %q after %s, want 200 in time or 503 with Retry-After", i, a.status, a.retryAfter, a.took)
			case a.took != 0:
				t.Errorf("request %d refused after %s, want at once", i, a.took)
			}
		}
		// Two served at once, two queued behind them: 800ms.
		if ok != 4 {
			t.Errorf("%d answered, want the 4 that fit in 1s at two at a time", ok)
		}
		if calls := e.calls("a") - before; calls != int64(ok) {
			t.Errorf("the upstream got %d calls for %d answers", calls, ok)
		}
	})
}

// A request whose deadline is shorter than the target's fastest recent
// answer is refused at once, without calling the upstream, rather than
// sent to time out — whichever header states the deadline.
func TestDeadlineShorterThanTheTargetIsRefusedAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, slow400)
		e.warm(3)
		before := e.calls("a")
		for _, h := range []map[string]string{
			{"X-Stainless-Timeout": "0.3"},
			{"X-Bulwark-Timeout": "300ms"},
			{"Grpc-Timeout": "300m"},
		} {
			a := e.post(h)
			if a.status != http.StatusServiceUnavailable || a.retryAfter == "" || a.took != 0 {
				t.Errorf("%v: status %d Retry-After %q after %s, want a 503 with Retry-After at once", h, a.status, a.retryAfter, a.took)
			}
		}
		if n := e.calls("a") - before; n != 0 {
			t.Errorf("the upstream got %d calls that could not be answered in time", n)
		}
		// A deadline that leaves time for the answer is served.
		if a := e.post(map[string]string{"X-Bulwark-Timeout": "500ms"}); a.status != http.StatusOK || a.took != 400*time.Millisecond {
			t.Errorf("a 500ms deadline: status %d after %s, want an answer in 400ms", a.status, a.took)
		}
	})
}

// A retry whose wait (here the upstream's Retry-After) leaves less time
// before the client's deadline than an answer takes is not attempted:
// the client gets the upstream's refusal at once instead of after the
// wait.
func TestRetryThatWouldPassTheDeadlineIsNotAttempted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, slow400)
		e.warm(3)
		before := e.calls("a")
		e.faults("a", "m-a", http429(700*time.Millisecond))
		// 700ms of wait and 400ms of answer do not fit in 1s.
		a := e.post(map[string]string{"X-Stainless-Timeout": "1"})
		if a.status != http.StatusTooManyRequests || a.took != 0 {
			t.Errorf("status %d after %s, want the upstream's 429 at once", a.status, a.took)
		}
		if n := e.calls("a") - before; n != 1 {
			t.Errorf("the upstream got %d calls, want the one before the retry", n)
		}
		// With time for it, the same request is retried after the wait.
		before = e.calls("a")
		e.after("a", func(n int64) {
			if n == before+1 {
				e.faults("a", "m-a", config.Faults{})
			}
		})
		a = e.post(map[string]string{"X-Stainless-Timeout": "2"})
		if a.status != http.StatusOK || a.took != 1100*time.Millisecond {
			t.Errorf("status %d after %s, want an answer after 700ms of wait and 400ms", a.status, a.took)
		}
		if n := e.calls("a") - before; n != 2 {
			t.Errorf("the upstream got %d calls, want 2", n)
		}
	})
}

// A client whose SDK is retrying (X-Stainless-Retry-Count > 0) gets no
// same-target retries from Bulwark on a failing upstream, so the two
// retry loops do not multiply; a first try gets the alias's retries.
func TestRetryingClientGetsNoBulwarkRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, slow400)
		e.faults("a", "m-a", status(http.StatusInternalServerError))
		calls := map[string]int64{}
		for _, retry := range []string{"0", "2"} {
			before := e.calls("a")
			a := e.post(map[string]string{"X-Stainless-Retry-Count": retry})
			if a.status != http.StatusBadGateway {
				t.Errorf("retry %s: status %d, want 502", retry, a.status)
			}
			calls[retry] = e.calls("a") - before
			if a.attempts != fmt.Sprint(calls[retry]) {
				t.Errorf("retry %s: X-Bulwark-Attempts %q, want %d", retry, a.attempts, calls[retry])
			}
		}
		if calls["0"] != 3 || calls["2"] != 1 {
			t.Errorf("upstream calls: %d for the client's first try, %d for its second retry; want 3 (per_target) and 1", calls["0"], calls["2"])
		}
	})
}
