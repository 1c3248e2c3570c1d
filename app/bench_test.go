package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm/sim"
)

// The end-to-end benchmarks drive the whole handler the server runs — every
// middleware, authentication with a key limited to some models, the
// gateway, and a zero-latency simulator as the upstream — with no network
// between the client and Bulwark. The access log is on (JSON, written to
// io.Discard), as a production config has it. What they measure is
// Bulwark's own cost per request, plus the simulator's, which its own
// benchmarks in llm/sim measure alone.

// benchConfig serves the same models twice: in-process (sim) and over
// HTTP through the openai provider (BENCH_UPSTREAM, a loopback simulator).
const benchConfig = `
log:
  level: ${BENCH_LOG_LEVEL:-info}
disable_builtin_sim: true
providers:
  local:
    type: sim
    models:
      bench-chat: {output_tokens: {min: 8, max: 8}}
      bench-long: {output_tokens: {min: 1024, max: 1024}}
  http:
    type: openai
    base_url: ${BENCH_UPSTREAM}
models:
  - name: chat
    targets: [{provider: local, model: bench-chat}]
  - name: long
    targets: [{provider: local, model: bench-long}]
  - name: http-chat
    targets: [{provider: http, model: bench-chat}]
  - name: http-long
    targets: [{provider: http, model: bench-long}]
`

// benchApp returns the handler of an App set up as above and the secret
// of a tenant key allowed only the benchmark's aliases.
func benchApp(b *testing.B) (http.Handler, string) {
	b.Helper()
	upstream := sim.New("upstream", 1, map[string]config.SimModel{
		"bench-chat": {OutputTokens: config.Range{Min: 8, Max: 8}},
		"bench-long": {OutputTokens: config.Range{Min: 1024, Max: 1024}},
	})
	srv := httptest.NewServer(upstream.Handler())
	b.Cleanup(srv.Close)
	b.Setenv("BENCH_UPSTREAM", srv.URL+"/v1")

	dir := b.TempDir()
	path := filepath.Join(dir, "bulwark.yaml")
	if err := os.WriteFile(path, []byte(benchConfig), 0o600); err != nil {
		b.Fatal(err)
	}
	a, err := New(context.Background(), Options{ConfigPath: path, DataDir: filepath.Join(dir, "data"),
		AdminKey: testAdminKey, Out: io.Discard, LogOutput: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	h := a.Handler()
	admin := func(path, body string) []byte {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code/100 != 2 {
			b.Fatalf("POST %s: %d %s", path, w.Code, w.Body)
		}
		return w.Body.Bytes()
	}
	admin("/admin/v1/tenants", `{"id":"bench","name":"bench"}`)
	var k struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(admin("/admin/v1/keys", `{"tenant_id":"bench","name":"bench","models":["chat","long","http-chat","http-long"]}`), &k); err != nil {
		b.Fatal(err)
	}
	return h, k.Secret
}

// discardWriter is a ResponseWriter that keeps nothing but counts, so that
// the benchmarks measure the handler rather than a recorder.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *discardWriter) Flush() {}
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}

const benchMessages = `[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Explain in a few sentences how a circuit breaker protects a service from a failing dependency."}]`

// benchServe sends body to the chat endpoint b.N times. chunks, when not
// zero, is the number of events a response carries, to report the cost
// per event.
func benchServe(b *testing.B, model string, stream bool, chunks int) {
	h, secret := benchApp(b)
	s := ""
	if stream {
		s = `"stream":true,`
	}
	payload := []byte(`{"model":"` + model + `",` + s + `"messages":` + benchMessages + `}`)
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		req.Body = io.NopCloser(bytes.NewReader(payload))
		req.ContentLength = int64(len(payload))
		clear(w.h)
		w.status = 0
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
	if w.h.Get("Server-Timing") == "" {
		b.Fatal("no Server-Timing header")
	}
	if chunks > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*chunks), "ns/chunk")
	}
}

// In-process simulator as the upstream.

func BenchmarkServeChat(b *testing.B) { benchServe(b, "chat", false, 0) }

// BenchmarkServeChatNoAccessLog is BenchmarkServeChat with the log level at
// warn, which turns the access log off: the difference is its cost.
func BenchmarkServeChatNoAccessLog(b *testing.B) {
	b.Setenv("BENCH_LOG_LEVEL", "warn")
	benchServe(b, "chat", false, 0)
}
func BenchmarkServeStream(b *testing.B) { benchServe(b, "chat", true, 0) }

// BenchmarkServeStreamLong relays 1,024 content events (plus role and
// finish) per request: its ns/chunk is the relay's cost per event,
// including the in-process simulator's own (see llm/sim BenchmarkStream).
func BenchmarkServeStreamLong(b *testing.B) { benchServe(b, "long", true, 1026) }

// A loopback simulator behind the openai provider: the path the load
// benchmark measures, minus the client's side of the network.

func BenchmarkServeChatHTTP(b *testing.B)   { benchServe(b, "http-chat", false, 0) }
func BenchmarkServeStreamHTTP(b *testing.B) { benchServe(b, "http-chat", true, 0) }

// BenchmarkServeStreamLongHTTP is the per-event cost with an HTTP upstream:
// the simulator writing SSE, the provider parsing it, the relay writing it.
func BenchmarkServeStreamLongHTTP(b *testing.B) { benchServe(b, "http-long", true, 1026) }
