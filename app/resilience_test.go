package app

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

const failoverConfig = `
log: {level: warn}
providers:
  p: {type: sim, models: {primary: {}}}
  f: {type: sim, models: {secondary: {}}}
models:
  - name: chat
    targets: [{provider: p, model: primary}]
    fallbacks: [spare]
    retry: {backoff: {base: 1ms, max: 2ms}}
    breaker: {consecutive_failures: 2, open_for: 1m}
  - name: spare
    targets: [{provider: f, model: secondary}]
`

// The whole path, over HTTP: a primary failing with 503 is retried, the
// fallback answers, the headers say so, and after enough failures the
// primary's breaker is open in GET /admin/v1/breakers.
func TestFailoverHeadersAndBreakerAdminAPI(t *testing.T) {
	ts := start(t, failoverConfig)
	ts.do(t, "PUT", "/admin/v1/providers/p/models/primary/faults", `{"error_rates":{"503":1}}`)
	resp, body := ts.do(t, "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Bulwark-Target"); got != "f/secondary" {
		t.Errorf("X-Bulwark-Target = %q", got)
	}
	if got := resp.Header.Get("X-Bulwark-Attempts"); got != "3" {
		t.Errorf("X-Bulwark-Attempts = %q", got)
	}
	var cc struct{ Model string }
	if err := json.Unmarshal(body, &cc); err != nil || cc.Model != "secondary" {
		t.Errorf("model %q (%v)", cc.Model, err)
	}

	resp, body = ts.do(t, "GET", "/admin/v1/breakers", "")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var states struct {
		Data []struct {
			Target  string
			Breaker struct{ State string }
		}
	}
	if err := json.Unmarshal(body, &states); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range states.Data {
		got[s.Target] = s.Breaker.State
	}
	if got["p/primary"] != "open" || got["f/secondary"] != "closed" {
		t.Errorf("breakers = %v (%s)", got, body)
	}

	// The fallback down too: a clean error that lists every attempt.
	ts.do(t, "PUT", "/admin/v1/providers/f/models/secondary/faults", `{"error_rates":{"503":1}}`)
	resp, body = ts.do(t, "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "attempts: f/secondary overloaded 503") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
}
