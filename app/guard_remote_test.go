package app

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// guardClassifierServer is an OpenAI-compatible server (a vLLM serving
// Llama Guard, as far as Bulwark can tell) that answers every chat with
// its verdict, or with a 500.
type guardClassifierServer struct {
	*httptest.Server
	mu      sync.Mutex
	verdict string
	bodies  []map[string]any
}

func newGuardClassifierServer(t *testing.T) *guardClassifierServer {
	s := &guardClassifierServer{verdict: "safe"}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		s.mu.Lock()
		s.bodies = append(s.bodies, body)
		v := s.verdict
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if v == "500" {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":{"message":"engine died","type":"server_error"}}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "g", "object": "chat.completion", "model": "llama-guard",
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": v}, "finish_reason": "stop"}},
			"usage":   map[string]any{"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *guardClassifierServer) set(v string) {
	s.mu.Lock()
	s.verdict = v
	s.mu.Unlock()
}

// TestGuardrailClassifierOverHTTP: a classifier served by an
// OpenAI-compatible server blocks unsafe requests with its categories;
// when it fails, an open rule serves the request and names the check in
// X-Bulwark-Guardrail-Skipped, a closed one answers 503
// guardrail_unavailable without the server's address; both are counted.
func TestGuardrailClassifierOverHTTP(t *testing.T) {
	cs := newGuardClassifierServer(t)
	ts := start(t, `
log: {level: warn}
providers:
  sim:
    type: sim
    models:
      sim-chat: {output_tokens: {min: 4, max: 4}}
  vllm:
    type: openai
    base_url: `+cs.URL+`/v1
models:
  - name: llama-guard
    targets: [{provider: vllm, model: meta-llama/Llama-Guard-3-8B}]
    retry: {max_attempts: 1}
  - name: open-chat
    targets: [{provider: sim, model: sim-chat}]
    guardrails:
      input:
        - {check: classifier, model: llama-guard, action: block, on_error: open, timeout: 30s}
  - name: closed-chat
    targets: [{provider: sim, model: sim-chat}]
    guardrails:
      input:
        - {check: classifier, model: llama-guard, action: block, on_error: closed, timeout: 30s}
      output:
        - {check: classifier, model: llama-guard, action: block, on_error: closed, timeout: 30s}
`)
	ask := func(model string) (*http.Response, []byte) {
		return ts.do(t, "POST", "/v1/chat/completions", `{"model":"`+model+`","messages":[{"role":"user","content":"Hello there"}],"max_tokens":4}`)
	}
	if resp, b := ask("closed-chat"); resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Guardrail-Skipped") != "" {
		t.Fatalf("safe: %d %s", resp.StatusCode, b)
	}
	cs.mu.Lock()
	first := cs.bodies[0]
	cs.mu.Unlock()
	if first["model"] != "meta-llama/Llama-Guard-3-8B" || first["temperature"] != 0.0 {
		t.Errorf("classifier request %v", first)
	}

	cs.set("unsafe\nS1,S14")
	resp, b := ask("open-chat")
	if e := mustOpenAIError(t, resp, b, http.StatusBadRequest, "guardrail_blocked"); !strings.Contains(e.Error.Message, "S1, S14") {
		t.Errorf("unsafe: %s", b)
	}

	cs.set("500")
	resp, b = ask("open-chat")
	if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Guardrail-Skipped") != "classifier" {
		t.Errorf("open: %d %q %s", resp.StatusCode, resp.Header.Get("X-Bulwark-Guardrail-Skipped"), b)
	}
	resp, b = ask("closed-chat")
	e := mustOpenAIError(t, resp, b, http.StatusServiceUnavailable, "guardrail_unavailable")
	if !strings.Contains(e.Error.Message, `"classifier"`) || strings.Contains(string(b), "127.0.0.1") || strings.Contains(string(b), "engine died") {
		t.Errorf("closed: %s", b)
	}
	if v := metricValue(t, ts, `bulwark_guardrail_errors_total{alias="open-chat",check="classifier",mode="open",stage="input"}`); v != 1 {
		t.Errorf("open errors counted %v, want 1", v)
	}
	if v := metricValue(t, ts, `bulwark_guardrail_errors_total{alias="closed-chat",check="classifier",mode="closed",stage="input"}`); v != 1 {
		t.Errorf("closed errors counted %v, want 1", v)
	}

	// The Responses API is served by the same chat path: same header.
	resp, b = ts.do(t, "POST", "/v1/responses", `{"model":"open-chat","input":"Hello there","max_output_tokens":16}`)
	if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Guardrail-Skipped") != "classifier" {
		t.Errorf("responses, open: %d %q %s", resp.StatusCode, resp.Header.Get("X-Bulwark-Guardrail-Skipped"), b)
	}

	// A stream cannot be checked by an output classifier: refused up front.
	resp, b = ts.do(t, "POST", "/v1/chat/completions", `{"model":"closed-chat","stream":true,"messages":[{"role":"user","content":"Hello"}]}`)
	mustOpenAIError(t, resp, b, http.StatusBadRequest, "guardrail_stream_unsupported")
}
