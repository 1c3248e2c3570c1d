package app

import (
	"encoding/json"
	"strings"
	"testing"
)

// The console is served without a key, with its security headers; the
// traffic API charts every request (and its cost), for the operator only.
func TestConsoleAndTrafficAPI(t *testing.T) {
	ts := start(t, "prices:\n  sim-chat: {input: 1000, output: 1000}\n")
	resp, body := ts.do(t, "GET", "/ui/", "", "Authorization", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "/ui/js/app.js") {
		t.Fatalf("GET /ui/ = %d %.200s", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers: %v", resp.Header)
	}
	resp, body = ts.do(t, "GET", "/ui/../admin/v1/keys", "", "Authorization", "")
	if resp.StatusCode != 404 {
		t.Errorf("an unclean path under /ui: %d %s", resp.StatusCode, body)
	}

	for range 3 {
		if resp, body := ts.do(t, "POST", "/v1/chat/completions", `{"model":"sim-chat","messages":[{"role":"user","content":"hi"}],"max_tokens":4}`); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	ts.do(t, "POST", "/v1/chat/completions", `{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}`)

	resp, body = ts.do(t, "GET", "/admin/v1/traffic?window=5m", "")
	if resp.StatusCode != 200 {
		t.Fatalf("traffic: %d %s", resp.StatusCode, body)
	}
	var w struct {
		Step   int64 `json:"step_seconds"`
		Series []struct {
			Alias, Target string
			Total         struct {
				Requests, Errors int64
				CostUSD          float64          `json:"cost_usd"`
				ErrorTypes       map[string]int64 `json:"error_types"`
			}
		}
	}
	if err := json.Unmarshal(body, &w); err != nil {
		t.Fatal(err)
	}
	var served, unknown bool
	for _, s := range w.Series {
		switch {
		case s.Alias == "sim-chat" && s.Target == "sim/sim-chat":
			served = s.Total.Requests == 3 && s.Total.Errors == 0 && s.Total.CostUSD > 0
		case s.Alias == "other":
			unknown = s.Total.Errors == 1 && s.Total.ErrorTypes["model_not_found"] == 1
		}
	}
	if !served || !unknown || w.Step != 10 {
		t.Errorf("traffic = %s; want 3 priced requests of sim-chat, and the unknown alias as other", body)
	}

	resp, body = ts.do(t, "GET", "/admin/v1/traffic?window=2d", "")
	mustOpenAIError(t, resp, body, 400, "")
	resp, body = ts.do(t, "POST", "/admin/v1/tenants", `{"id":"acme"}`)
	if resp.StatusCode != 201 && resp.StatusCode != 200 {
		t.Fatalf("create tenant: %d %s", resp.StatusCode, body)
	}
	resp, body = ts.do(t, "POST", "/admin/v1/keys", `{"tenant_id":"acme","name":"ops","admin":true}`)
	var k struct{ Secret string }
	if err := json.Unmarshal(body, &k); err != nil || k.Secret == "" {
		t.Fatalf("create key: %d %s", resp.StatusCode, body)
	}
	resp, body = ts.do(t, "GET", "/admin/v1/traffic", "", "Authorization", "Bearer "+k.Secret)
	mustOpenAIError(t, resp, body, 403, "operator_required")
}
