package app

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/faultproxy"
)

// readyConfig routes chat to two targets and solo to the first of them
// only; a breaker opens after two failures in a row.
const readyConfig = `
log: {level: warn}
providers:
  p: {type: sim, models: {primary: {}}}
  f: {type: sim, models: {secondary: {}}}
models:
  - name: chat
    targets: [{provider: p, model: primary}, {provider: f, model: secondary}]
    retry: {backoff: {base: 1ms, max: 2ms}}
    breaker: {consecutive_failures: 2, open_for: 1m}
  - name: solo
    targets: [{provider: p, model: primary}]
    retry: {backoff: {base: 1ms, max: 2ms}}
    breaker: {consecutive_failures: 2, open_for: 1m}
`

type readiness struct {
	Status string
	Checks map[string]struct {
		Status       string
		Error        string
		CheckedMSAgo *int64 `json:"checked_ms_ago"`
	}
	Targets []struct {
		Target  string
		Breaker string
	}
	UnavailableModels []string `json:"unavailable_models"`
}

func (ts *testServer) readyz(t *testing.T) readiness {
	t.Helper()
	resp, body := ts.do(t, "GET", "/readyz", "", "Authorization", "")
	if resp.StatusCode != 200 {
		t.Fatalf("readyz = %d %s; want 200", resp.StatusCode, body)
	}
	var r readiness
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("readyz body %s: %v", body, err)
	}
	return r
}

func (r readiness) breakers() map[string]string {
	m := map[string]string{}
	for _, t := range r.Targets {
		m[t.Target] = t.Breaker
	}
	return m
}

// Issue 6 item 7: /readyz reports every target's breaker, says degraded
// while one is open, and names the models left without a target.
func TestReadyzReportsOpenBreakers(t *testing.T) {
	ts := start(t, readyConfig)
	r := ts.readyz(t)
	if r.Status != "ok" || r.Checks["breakers"].Status != "ok" || len(r.UnavailableModels) != 0 {
		t.Fatalf("before any failure: %+v", r)
	}
	if got := r.breakers(); got["p/primary"] != "closed" || got["f/secondary"] != "closed" {
		t.Errorf("breakers before any failure = %v", got)
	}

	// The primary fails every call: one request to solo retries it once,
	// two failures in a row, and its breaker opens.
	ts.do(t, "PUT", "/admin/v1/providers/p/models/primary/faults", `{"error_rates":{"503":1}}`)
	resp, body := ts.do(t, "POST", "/v1/chat/completions", `{"model":"solo","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 503 {
		t.Fatalf("solo with its only target failing = %d %s", resp.StatusCode, body)
	}
	r = ts.readyz(t)
	if got := r.breakers(); got["p/primary"] != "open" || got["f/secondary"] != "closed" {
		t.Fatalf("breakers = %v", got)
	}
	if r.Status != "degraded" || !slices.Equal(r.UnavailableModels, []string{"solo"}) ||
		r.Checks["breakers"].Status != "degraded" || !strings.Contains(r.Checks["breakers"].Error, "solo") {
		t.Errorf("with solo's only target open: %+v", r)
	}
	// chat still answers, from its other target.
	if resp, body := ts.do(t, "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`); resp.StatusCode != 200 {
		t.Errorf("chat = %d %s", resp.StatusCode, body)
	}

	// Without solo, every model has a target: still degraded (a breaker is
	// open), and no model is unavailable. The breaker survives the reload.
	// (The built-in simulator adds two targets of its own, the built-in
	// embedding model one.)
	cfg := strings.Split(readyConfig, "  - name: solo")[0]
	if err := os.WriteFile(ts.app.opts.ConfigPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.app.Reload(); err != nil {
		t.Fatal(err)
	}
	r = ts.readyz(t)
	if r.Status != "degraded" || len(r.UnavailableModels) != 0 || r.breakers()["p/primary"] != "open" ||
		r.Checks["breakers"].Status != "degraded" || !strings.Contains(r.Checks["breakers"].Error, "1 of 5 targets") {
		t.Errorf("with an open breaker and every model served: %+v", r)
	}
	if r.Checks["store"].Status != "ok" || r.Checks["usage"].Status != "ok" {
		t.Errorf("store and usage checks = %+v", r.Checks)
	}
}

// /healthz stays a liveness probe: it does no I/O and says ok while
// upstreams fail.
func TestHealthzStaysCheap(t *testing.T) {
	ts := start(t, readyConfig)
	if resp, body := ts.do(t, "PUT", "/admin/v1/providers/p/models/primary/faults", `{"error_rates":{"503":1}}`); resp.StatusCode != 200 {
		t.Fatalf("fault: %d %s", resp.StatusCode, body)
	}
	if resp, body := ts.do(t, "POST", "/v1/chat/completions", `{"model":"solo","messages":[{"role":"user","content":"hi"}]}`); resp.StatusCode < 500 {
		t.Fatalf("chat with its one upstream failing: %d %s; want a 5xx", resp.StatusCode, body)
	}
	resp, body := ts.do(t, "GET", "/healthz", "", "Authorization", "")
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
		t.Errorf("healthz = %d %s", resp.StatusCode, body)
	}
}

// readyzWithin asks /readyz with a client that waits at most a second, as
// a Kubernetes probe does, and fails the test if no answer comes by then.
func (ts *testServer) readyzWithin(t *testing.T) (int, readiness) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(ts.url + "/readyz")
	if err != nil {
		t.Fatalf("readyz did not answer within a second: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("readyz did not answer within a second: %v", err)
	}
	var r readiness
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("readyz body %s: %v", body, err)
	}
	return resp.StatusCode, r
}

// waitReadyz polls /readyz, each answer within a second, until ok says it
// is what the test waits for, and fails the test after 10s.
func (ts *testServer) waitReadyz(t *testing.T, what string, ok func(int, readiness) bool) readiness {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, r := ts.readyzWithin(t)
		if ok(code, r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz still does not show %s after 10s: %d %+v", what, code, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metricsBody returns what /metrics serves.
func (ts *testServer) metricsBody(t *testing.T) string {
	t.Helper()
	resp, body := ts.do(t, "GET", "/metrics", "", "Authorization", "")
	if resp.StatusCode != 200 {
		t.Fatalf("metrics = %d", resp.StatusCode)
	}
	return string(body)
}

// With Postgres frozen (it accepts connections and answers nothing, as
// under SIGSTOP or a partition), /readyz still answers at once, within a
// probe's client timeout, and shows the store as not answering after one
// probe interval; when Postgres is back, it shows the store ok again.
func TestReadyzAnswersWhileTheStoreIsFrozen(t *testing.T) {
	storeURL, px := pgBehindProxy(t)
	ts := start(t, fastConfig+`
store: {type: postgres, url: "`+storeURL+`"}
`)
	// Runs before the server stops, so that it stops with Postgres back.
	t.Cleanup(func() { _ = px.Restore() })

	code, r := ts.readyzWithin(t)
	if code != 200 || r.Status != "ok" || r.Checks["store"].Status != "ok" || r.Checks["store"].CheckedMSAgo == nil {
		t.Fatalf("readyz before the freeze: %d %+v", code, r)
	}
	if m := ts.metricsBody(t); !strings.Contains(m, `bulwark_dependency_up{dependency="store"} 1`) {
		t.Errorf("metrics before the freeze lack the store up:\n%s", grepLines(m, "bulwark_dependency_up"))
	}

	px.Freeze()
	r = ts.waitReadyz(t, "the store frozen", func(code int, r readiness) bool {
		return code == 200 && r.Status == "degraded" && r.Checks["store"].Status == "error" &&
			strings.Contains(r.Checks["store"].Error, "no answer within")
	})
	if strings.Contains(r.Checks["store"].Error, "127.0.0.1") {
		t.Errorf("the store check quotes an address: %q", r.Checks["store"].Error)
	}
	if m := ts.metricsBody(t); !strings.Contains(m, `bulwark_dependency_up{dependency="store"} 0`) {
		t.Errorf("metrics with the store frozen:\n%s", grepLines(m, "bulwark_dependency_up"))
	}
	// Every answer meanwhile comes at once, however long the freeze.
	for range 3 {
		ts.readyzWithin(t)
	}

	if err := px.Restore(); err != nil {
		t.Fatal(err)
	}
	ts.waitReadyz(t, "the store back", func(code int, r readiness) bool {
		return code == 200 && r.Checks["store"].Status == "ok"
	})
}

// A replica started with Redis unreachable says so in its very first
// /readyz, before any request has tried Redis, and says ok again once
// Redis is back.
func TestReadyzSeesRedisDownBeforeAnyRequest(t *testing.T) {
	_, rd := scaledURLs(t)
	u, err := url.Parse(rd)
	if err != nil {
		t.Fatal(err)
	}
	px, err := faultproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	px.Cut()
	u.Host = px.Addr()
	ts := start(t, fastConfig+`
limits: {backend: redis, redis_url: "`+u.String()+`", prefix: "bulwark-test-readyz-`+strconv.FormatInt(time.Now().UnixNano(), 36)+`:"}
`)

	code, r := ts.readyzWithin(t)
	if code != 200 || r.Status != "degraded" || r.Checks["limits"].Status != "degraded" || r.Checks["budgets"].Status != "degraded" {
		t.Fatalf("first readyz with Redis cut: %d %+v; want 200 with limits and budgets degraded", code, r)
	}
	if r.Checks["store"].Status != "ok" {
		t.Errorf("store check = %+v", r.Checks["store"])
	}
	if m := ts.metricsBody(t); !strings.Contains(m, `bulwark_dependency_up{dependency="redis"} 0`) {
		t.Errorf("metrics with Redis cut:\n%s", grepLines(m, "bulwark_dependency_up"))
	}

	if err := px.Restore(); err != nil {
		t.Fatal(err)
	}
	ts.waitReadyz(t, "Redis back", func(code int, r readiness) bool {
		return code == 200 && r.Status == "ok" && r.Checks["limits"].Status == "ok" && r.Checks["budgets"].Status == "ok"
	})
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}
