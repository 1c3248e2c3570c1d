package app

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

// Over real HTTP: a malformed deadline header is a 400 naming it, and a
// deadline shorter than the target's answers is refused at once with a
// 503 and Retry-After instead of calling the upstream.
func TestClientDeadlineHeadersOverHTTP(t *testing.T) {
	ts := start(t, fastConfig)
	body := `{"model":"slow","messages":[{"role":"user","content":"hi"}]}`

	resp, b := ts.do(t, "POST", "/v1/chat/completions", body, "X-Stainless-Timeout", "soon")
	var we wireError
	if err := json.Unmarshal(b, &we); err != nil {
		t.Fatalf("body %q: %v", b, err)
	}
	if resp.StatusCode != http.StatusBadRequest || we.Error.Type != "invalid_request_error" || we.Error.Param == nil || *we.Error.Param != "X-Stainless-Timeout" {
		t.Errorf("malformed X-Stainless-Timeout: %d %s, want a 400 naming the header", resp.StatusCode, b)
	}

	// slow answers in about 250ms: once Bulwark has seen that, a client
	// waiting 100ms cannot be answered in time.
	if resp, b := ts.do(t, "POST", "/v1/chat/completions", body); resp.StatusCode != http.StatusOK {
		t.Fatalf("warm-up: %d %s", resp.StatusCode, b)
	}
	resp, b = ts.do(t, "POST", "/v1/chat/completions", body, "X-Bulwark-Timeout", "100ms", "X-Stainless-Retry-Count", "0")
	we = wireError{}
	if err := json.Unmarshal(b, &we); err != nil {
		t.Fatalf("body %q: %v", b, err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || we.Error.Code == nil || *we.Error.Code != "deadline" {
		t.Errorf("100ms deadline on a 250ms model: %d Retry-After %q %s, want a 503 deadline refusal with Retry-After",
			resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
}

// A stream's client timeout bounds its start, not its length: the SDKs'
// own timeouts stop at the response's first bytes (Node) or count between
// reads (Python), so a stream that starts in time runs to its end, and
// one that cannot start in time is refused at once.
func TestClientDeadlineBoundsAStreamsStart(t *testing.T) {
	ts := start(t, fastConfig)
	body := `{"model":"slow","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	if resp, b := ts.do(t, "POST", "/v1/chat/completions", body); resp.StatusCode != http.StatusOK {
		t.Fatalf("warm-up: %d %s", resp.StatusCode, b)
	}
	// slow starts in about 50ms and ends after about 250ms.
	resp, b := ts.do(t, "POST", "/v1/chat/completions", body, "X-Bulwark-Timeout", "150ms")
	events := sseEvents(t, bytes.NewReader(b))
	if resp.StatusCode != http.StatusOK || len(events) == 0 || events[len(events)-1] != "[DONE]" {
		t.Errorf("a stream that started within its client's 150ms: %d, last event %q; want it to run to [DONE]", resp.StatusCode, b)
	}
	resp, b = ts.do(t, "POST", "/v1/chat/completions", body, "X-Bulwark-Timeout", "20ms")
	var we wireError
	if err := json.Unmarshal(b, &we); err != nil {
		t.Fatalf("body %q: %v", b, err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || we.Error.Code == nil || *we.Error.Code != "deadline" {
		t.Errorf("a stream that cannot start within its client's 20ms: %d %s; want a 503 deadline refusal", resp.StatusCode, b)
	}
}
