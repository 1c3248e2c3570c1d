package app

import (
	"net/http"
	"strings"
	"testing"
)

// aliasLimitConfig limits the alias "chat" to 3 requests a minute from
// every tenant together.
const aliasLimitConfig = `
log: {level: warn}
providers:
  fast:
    type: sim
    models:
      fast-chat: {output_tokens: {min: 5, max: 5}}
models:
  - name: chat
    targets: [{provider: fast, model: fast-chat}]
    limits: {requests_per_minute: 3}
  - name: other
    targets: [{provider: fast, model: fast-chat}]
`

func TestAliasLimitRefusesTheNextRequestWith429AndHeaders(t *testing.T) {
	ts := start(t, aliasLimitConfig)
	_, s1 := createKey(t, ts, `{"id":"acme"}`, `{"tenant_id":"acme","name":"app"}`)
	_, s2 := createKey(t, ts, `{"id":"globex"}`, `{"tenant_id":"globex","name":"app"}`)
	for i, s := range []string{s1, s2, s1} {
		resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer "+s)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		h := resp.Header
		if h.Get("x-ratelimit-limit-requests") != "3" || h.Get("x-ratelimit-remaining-requests") != string(rune('2'-i)) ||
			h.Get("x-ratelimit-reset-requests") == "" {
			t.Errorf("request %d rate-limit headers = %v", i, h)
		}
	}
	resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer "+s2)
	e := mustOpenAIError(t, resp, body, http.StatusTooManyRequests, "rate_limit_exceeded")
	h := resp.Header
	if e.Error.Type != "rate_limit_error" || !strings.Contains(e.Error.Message, "alias:chat") || h.Get("Retry-After") == "" ||
		h.Get("x-ratelimit-limit-requests") != "3" || h.Get("x-ratelimit-remaining-requests") != "0" {
		t.Errorf("refusal %s, headers %v", body, h)
	}
	// Another alias is not limited by it.
	resp, body = ts.do(t, "POST", "/v1/chat/completions", strings.Replace(chatBody, `"chat"`, `"other"`, 1), "Authorization", "Bearer "+s2)
	if resp.StatusCode != 200 || resp.Header.Get("x-ratelimit-limit-requests") != "" {
		t.Errorf("other alias: %d %s %v", resp.StatusCode, body, resp.Header)
	}
}
