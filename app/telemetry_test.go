package app

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/drift"
	"github.com/bulwark-ai/bulwark/telemetry"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestMetricsOnMainAndOwnListener(t *testing.T) {
	addr := freeAddr(t)
	ts := start(t, fastConfig+"telemetry:\n  metrics:\n    listen: "+addr+"\n")
	if resp, _ := ts.do(t, "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`); resp.StatusCode != 200 {
		t.Fatalf("chat: %d", resp.StatusCode)
	}
	// The drift detector is on by default and the gateway feeds it.

	wants := []string{
		`bulwark_http_requests_total{code="200",route="/v1/chat/completions"} 1`,
		`bulwark_drift_samples{alias="chat",window="current"} 1`,
		`bulwark_requests_total{alias="chat",model="fast-chat",operation="chat",provider="fast",status="200",tenant="`,
		`bulwark_attempts_total{alias="chat",model="fast-chat",outcome="success",provider="fast"} 1`,
		`bulwark_request_attempts_count{alias="chat",operation="chat"} 1`,
		`bulwark_breaker_state{model="fast-chat",provider="fast"} 0`,
		`bulwark_target_inflight{model="fast-chat",provider="fast"} 0`,
		"go_goroutines",
	}
	// The request is counted once its handler returned, which may be just
	// after the client read the answer: read until it shows, for a while.
	var body []byte
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var resp *http.Response
		resp, body = ts.do(t, "GET", "/metrics", "", "Authorization", "")
		if resp.StatusCode != 200 {
			t.Fatalf("GET /metrics on the main listener: %d", resp.StatusCode)
		}
		if strings.Contains(string(body), wants[0]) || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range wants {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	var own *http.Response
	var err error
	for range 50 { // the listener starts with Serve
		if own, err = http.Get("http://" + addr + "/metrics"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("GET /metrics on telemetry.metrics.listen: %v", err)
	}
	defer own.Body.Close()
	b, _ := io.ReadAll(own.Body)
	if own.StatusCode != 200 || !strings.Contains(string(b), "bulwark_http_requests_total") {
		t.Errorf("own listener: %d %.200s", own.StatusCode, b)
	}
	if r, err := http.Get("http://" + addr + "/v1/models"); err == nil {
		r.Body.Close()
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("the metrics listener serves the API: %d", r.StatusCode)
		}
	}
}

func TestUnknownAliasCollapsedInMetrics(t *testing.T) {
	ts := start(t, fastConfig)
	ts.do(t, "POST", "/v1/chat/completions", `{"model":"no-such-alias-123","messages":[{"role":"user","content":"hi"}]}`)
	ts.app.Metrics().RecordRequest(telemetryRecord("no-such-alias-123"))
	ts.app.Metrics().RecordRequest(telemetryRecord("chat"))
	_, body := ts.do(t, "GET", "/metrics", "")
	if strings.Contains(string(body), "no-such-alias-123") {
		t.Error("an alias the routing table does not know appears in /metrics")
	}
	if !strings.Contains(string(body), `alias="chat"`) || !strings.Contains(string(body), `alias="other"`) {
		t.Error("known alias or the other bucket missing from /metrics")
	}
}

func telemetryRecord(alias string) telemetry.RequestRecord {
	return telemetry.RequestRecord{Operation: telemetry.OperationChat, Alias: alias, Status: 200, Duration: time.Millisecond}
}

func TestTracesExportedOverOTLPHTTP(t *testing.T) {
	var mu sync.Mutex
	var got []byte
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		if r.URL.Path == "/v1/traces" {
			got = append(got, b...)
		}
		mu.Unlock()
	}))
	defer collector.Close()
	ts := start(t, fastConfig+"telemetry:\n  tracing:\n    enabled: true\n    endpoint: "+collector.URL+"/v1/traces\n")
	resp, _ := ts.do(t, "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`,
		"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if resp.StatusCode != 200 {
		t.Fatalf("chat: %d", resp.StatusCode)
	}
	ts.stop() // Close flushes the spans
	mu.Lock()
	defer mu.Unlock()
	traceID := string([]byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36})
	for _, want := range []string{"/v1/chat/completions", "http.route", traceID,
		"chat chat", "chat fast-chat", "gen_ai.operation.name", "gen_ai.usage.output_tokens", "bulwark.attempt", "bulwark.breaker.state"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("exported spans lack %q (%d bytes exported)", want, len(got))
		}
	}
}

func TestDriftAdminAPI(t *testing.T) {
	ts := start(t, fastConfig)
	resp, _ := ts.do(t, "GET", "/admin/v1/drift/chat", "")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("drift of an alias with no traffic: %d", resp.StatusCode)
	}
	for range 3 {
		ts.app.Drift().Observe(drift.Observation{Alias: "chat", PromptTokens: 3, OutputTokens: 5, Latency: time.Millisecond, FinishReason: "stop"})
	}
	resp, body := ts.do(t, "POST", "/admin/v1/drift/chat/rebaseline", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"baseline_samples":3`) {
		t.Errorf("rebaseline: %d %s", resp.StatusCode, body)
	}
	resp, body = ts.do(t, "GET", "/admin/v1/drift", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"alias":"chat"`) {
		t.Errorf("drift list: %d %s", resp.StatusCode, body)
	}
}

func TestReloadKeepsTelemetrySettings(t *testing.T) {
	ts := start(t, fastConfig)
	path := ts.app.opts.ConfigPath
	if err := os.WriteFile(path, []byte(fastConfig+"telemetry:\n  drift: {disabled: true}\n  metrics: {disable_tenant_label: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.app.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if tc := ts.app.Config().Telemetry; tc.Drift.Disabled || tc.Metrics.DisableTenantLabel {
		t.Errorf("telemetry settings changed by a reload: %+v", tc)
	}
	if ts.app.Drift() == nil {
		t.Error("the drift detector was dropped by a reload")
	}
}

// The client's trace continues to an OpenAI-compatible upstream: it gets a
// traceparent with the client's trace id and the attempt span as parent.
func TestTraceContextReachesTheUpstream(t *testing.T) {
	var mu sync.Mutex
	var tp string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tp = r.Header.Get("Traceparent")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	}))
	defer upstream.Close()
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer collector.Close()
	ts := start(t, `
log: {level: warn}
providers:
  lab: {type: openai, base_url: `+upstream.URL+`/v1}
models:
  - name: chat
    targets: [{provider: lab, model: m}]
telemetry:
  tracing: {enabled: true, endpoint: `+collector.URL+`/v1/traces}
`)
	const clientParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	resp, body := ts.do(t, "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`,
		"traceparent", clientParent)
	if resp.StatusCode != 200 {
		t.Fatalf("chat: %d %s", resp.StatusCode, body)
	}
	mu.Lock()
	defer mu.Unlock()
	parts := strings.Split(tp, "-")
	if len(parts) != 4 || parts[1] != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("upstream traceparent = %q, want the client's trace id", tp)
	}
	if parts[2] == "00f067aa0ba902b7" {
		t.Errorf("upstream's parent is the client's span, not Bulwark's attempt span: %q", tp)
	}
}

// Profiles are served on the metrics listener when telemetry.metrics.pprof
// is on, and never on the main listener.
func TestPprofOnMetricsListener(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint("pprof=", on), func(t *testing.T) {
			addr := freeAddr(t)
			ts := start(t, fastConfig+fmt.Sprintf("telemetry:\n  metrics: {listen: %s, pprof: %v}\n", addr, on))
			want := http.StatusNotFound
			if on {
				want = http.StatusOK
			}
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1", "/debug/pprof/profile?seconds=1"} {
				var resp *http.Response
				var err error
				for range 50 { // the listener starts with Serve
					if resp, err = http.Get("http://" + addr + path); err == nil {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				if err != nil {
					t.Fatalf("GET %s on the metrics listener: %v", path, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Errorf("GET %s on the metrics listener: %d, want %d (%.100s)", path, resp.StatusCode, want, b)
				}
				if on && path == "/debug/pprof/" && !strings.Contains(string(b), "goroutine") {
					t.Errorf("the profile index lists no goroutine profile: %.200s", b)
				}
				if on && strings.HasPrefix(path, "/debug/pprof/profile") && len(b) == 0 {
					t.Error("empty CPU profile")
				}
			}
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline"} {
				if resp, _ := ts.do(t, "GET", path, ""); resp.StatusCode != http.StatusNotFound {
					t.Errorf("GET %s on the main listener: %d", path, resp.StatusCode)
				}
			}
		})
	}
}
