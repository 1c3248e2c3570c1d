package app

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
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
		Status string
		Error  string
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
	// (The built-in simulator adds two targets of its own.)
	cfg := strings.Split(readyConfig, "  - name: solo")[0]
	if err := os.WriteFile(ts.app.opts.ConfigPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.app.Reload(); err != nil {
		t.Fatal(err)
	}
	r = ts.readyz(t)
	if r.Status != "degraded" || len(r.UnavailableModels) != 0 || r.breakers()["p/primary"] != "open" ||
		r.Checks["breakers"].Status != "degraded" || !strings.Contains(r.Checks["breakers"].Error, "1 of 4 targets") {
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
