package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testAdminKey = "bk-test-admin-0123456789abcdefghijklmnopqrstuv"

// fastConfig serves a sim provider with no latency, so tests run quickly.
const fastConfig = `
log: {level: warn}
providers:
  fast:
    type: sim
    models:
      fast-chat: {output_tokens: {min: 5, max: 5}}
      fast-embed: {kind: embedding, dimensions: 8}
      slow-chat:
        ttft: {p50: 50ms}
        itl: {p50: 20ms}
        output_tokens: {min: 10, max: 10}
models:
  - name: chat
    targets: [{provider: fast, model: fast-chat}]
  - name: embed
    targets: [{provider: fast, model: fast-embed}]
  - name: slow
    targets: [{provider: fast, model: slow-chat}]
`

type testServer struct {
	app  *App
	url  string
	stop func()
	out  *bytes.Buffer
}

// start runs a Bulwark on a loopback port with the given config (empty:
// the built-in defaults) and stops it when the test ends.
func start(t *testing.T, cfgYAML string, opts ...func(*Options)) *testServer {
	t.Helper()
	dir := t.TempDir()
	o := Options{DataDir: filepath.Join(dir, "data"), AdminKey: testAdminKey, Out: &bytes.Buffer{}, LogOutput: io.Discard}
	if cfgYAML != "" {
		o.ConfigPath = filepath.Join(dir, "bulwark.yaml")
		if err := os.WriteFile(o.ConfigPath, []byte(cfgYAML), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range opts {
		f(&o)
	}
	a, err := New(context.Background(), o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	ts := &testServer{app: a, url: "http://" + ln.Addr().String(), out: o.Out.(*bytes.Buffer)}
	var once bool
	ts.stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil && err != http.ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
		a.Close()
	}
	t.Cleanup(ts.stop)
	return ts
}

// do sends a request with the admin key and returns the response and body.
func (ts *testServer) do(t *testing.T, method, path, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

type wireError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// mustOpenAIError asserts the response is an OpenAI-format error with the
// status and code given, and returns it.
func mustOpenAIError(t *testing.T, resp *http.Response, body []byte, status int, code string) wireError {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var e wireError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, body)
	}
	if e.Error.Message == "" || e.Error.Type == "" {
		t.Errorf("error body lacks message or type: %s", body)
	}
	if code != "" && (e.Error.Code == nil || *e.Error.Code != code) {
		t.Errorf("code = %v, want %q; body %s", e.Error.Code, code, body)
	}
	return e
}

// sseEvents reads a server-sent event stream into its data payloads.
func sseEvents(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, data)
		}
	}
	return out
}

func TestHealthAndReady(t *testing.T) {
	ts := start(t, "")
	resp, body := ts.do(t, "GET", "/healthz", "", "Authorization", "")
	if resp.StatusCode != 200 {
		t.Fatalf("healthz: %d %s", resp.StatusCode, body)
	}
	resp, body = ts.do(t, "GET", "/readyz", "", "Authorization", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"store":{"status":"ok",`) {
		t.Fatalf("readyz: %d %s", resp.StatusCode, body)
	}
}

func TestRequestID(t *testing.T) {
	ts := start(t, fastConfig)
	resp, _ := ts.do(t, "GET", "/v1/models", "", "X-Request-Id", "client-id-42")
	if got := resp.Header.Get("X-Request-Id"); got != "client-id-42" {
		t.Errorf("client's request id not echoed: %q", got)
	}
	resp, _ = ts.do(t, "GET", "/v1/models", "")
	if got := resp.Header.Get("X-Request-Id"); !strings.HasPrefix(got, "req_") {
		t.Errorf("generated request id = %q", got)
	}
	// An error response carries one too.
	resp, _ = ts.do(t, "GET", "/nowhere", "")
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("error response has no request id")
	}
}

func TestDefaultsServeBuiltinSimModels(t *testing.T) {
	ts := start(t, "")
	resp, body := ts.do(t, "GET", "/v1/models", "")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for _, m := range []string{`"id":"sim-chat"`, `"id":"sim-embed"`} {
		if !strings.Contains(string(body), m) {
			t.Errorf("models list lacks %s: %s", m, body)
		}
	}
	resp, body = ts.do(t, "POST", "/v1/chat/completions", `{"model":"sim-chat","messages":[{"role":"user","content":"hi"}],"max_tokens":4}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestBootstrapKeyWrittenOnceWithMode0600(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, "", func(o *Options) { o.AdminKey = ""; o.DataDir = dir })
	path := filepath.Join(dir, "admin.key")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.key mode = %v, want 0600", fi.Mode().Perm())
	}
	secret, _ := os.ReadFile(path)
	key := strings.TrimSpace(string(secret))
	if !strings.Contains(ts.out.String(), key) {
		t.Errorf("the generated key was not printed")
	}
	resp, body := ts.do(t, "GET", "/admin/v1/tenants", "", "Authorization", "Bearer "+key)
	if resp.StatusCode != 200 {
		t.Fatalf("bootstrap key cannot call the admin API: %d %s", resp.StatusCode, body)
	}
	ts.stop()

	// A second start reuses it and prints nothing.
	ts2 := start(t, "", func(o *Options) { o.AdminKey = ""; o.DataDir = dir })
	if strings.Contains(ts2.out.String(), key) || strings.Contains(ts2.out.String(), "bk-") {
		t.Errorf("second start printed a key: %q", ts2.out.String())
	}
	resp, _ = ts2.do(t, "GET", "/v1/models", "", "Authorization", "Bearer "+key)
	if resp.StatusCode != 200 {
		t.Errorf("key from admin.key refused after restart: %d", resp.StatusCode)
	}
}

func TestStreamRelaysAndEndsWithDone(t *testing.T) {
	ts := start(t, fastConfig)
	resp, body := ts.do(t, "POST", "/v1/chat/completions",
		`{"model":"chat","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	ev := sseEvents(t, bytes.NewReader(body))
	if len(ev) < 3 || ev[len(ev)-1] != "[DONE]" {
		t.Fatalf("stream does not end with [DONE]: %q", ev)
	}
	if !strings.Contains(ev[len(ev)-2], `"usage":{`) {
		t.Errorf("no usage chunk before [DONE]: %q", ev[len(ev)-2])
	}
	if resp.Header.Get("X-Bulwark-Target") != "fast/fast-chat" {
		t.Errorf("X-Bulwark-Target = %q", resp.Header.Get("X-Bulwark-Target"))
	}

	// Without include_usage the usage chunk is not sent.
	_, body = ts.do(t, "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}],"stream":true}`)
	for _, e := range sseEvents(t, bytes.NewReader(body)) {
		if strings.Contains(e, `"usage":{`) {
			t.Errorf("usage chunk sent without include_usage: %s", e)
		}
	}
}

func TestStreamCutEndsWithErrorEventNotDone(t *testing.T) {
	ts := start(t, fastConfig)
	resp, body := ts.do(t, "PUT", "/admin/v1/providers/fast/models/fast-chat/faults", `{"cut":{"rate":1,"after_tokens":2}}`)
	if resp.StatusCode != 200 {
		t.Fatalf("set faults: %d %s", resp.StatusCode, body)
	}
	_, body = ts.do(t, "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}],"stream":true}`)
	ev := sseEvents(t, bytes.NewReader(body))
	if len(ev) == 0 {
		t.Fatal("no events")
	}
	last := ev[len(ev)-1]
	if last == "[DONE]" || !strings.Contains(last, `"error"`) {
		t.Fatalf("a cut stream must end with an error event and no [DONE]; events %q", ev)
	}
}

func TestDrainFinishesInFlightStream(t *testing.T) {
	ts := start(t, fastConfig)
	req, _ := http.NewRequest("POST", ts.url+"/v1/chat/completions",
		strings.NewReader(`{"model":"slow","messages":[{"role":"user","content":"hi"}],"stream":true}`))
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The stream has started; now ask the server to stop.
	go ts.stop()
	ev := sseEvents(t, resp.Body)
	if len(ev) == 0 || ev[len(ev)-1] != "[DONE]" {
		t.Fatalf("in-flight stream was not drained to its end: %q", ev)
	}
}

func TestReloadSwapsModelsAndKeepsOldOnError(t *testing.T) {
	ts := start(t, fastConfig)
	path := ts.app.opts.ConfigPath
	if err := os.WriteFile(path, []byte(fastConfig+"  - name: chat2\n    targets: [{provider: fast, model: fast-chat}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.app.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	resp, body := ts.do(t, "POST", "/v1/chat/completions", `{"model":"chat2","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("new alias not served after reload: %d %s", resp.StatusCode, body)
	}

	if err := os.WriteFile(path, []byte("providers: {x: {type: nope}}\nbogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.app.Reload(); err == nil {
		t.Fatal("a bad config reloaded without error")
	}
	resp, body = ts.do(t, "POST", "/v1/chat/completions", `{"model":"chat2","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("old config not kept after a bad reload: %d %s", resp.StatusCode, body)
	}
}

func TestReloadKeepsRuntimeFaultsOfUnchangedSim(t *testing.T) {
	ts := start(t, fastConfig)
	ts.do(t, "PUT", "/admin/v1/providers/fast/models/fast-chat/faults", `{"error_rates":{"500":1}}`)
	if err := ts.app.Reload(); err != nil {
		t.Fatal(err)
	}
	resp, _ := ts.do(t, "GET", "/admin/v1/providers/fast/models/fast-chat/faults", "")
	if resp.StatusCode != 200 {
		t.Fatalf("get faults: %d", resp.StatusCode)
	}
	resp, body := ts.do(t, "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("injected 500 fault lost on reload: %d %s", resp.StatusCode, body)
	}
}

func TestWatchReloadsOnFileChange(t *testing.T) {
	ts := start(t, fastConfig)
	path := ts.app.opts.ConfigPath
	h := fileHash(path)
	if got := ts.app.reloadIfChanged(h); !bytes.Equal(got, h) {
		t.Fatal("an unchanged file was seen as changed")
	}
	if err := os.WriteFile(path, []byte(fastConfig+"  - name: watched\n    targets: [{provider: fast, model: fast-chat}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := ts.app.reloadIfChanged(h); bytes.Equal(got, h) {
		t.Fatal("a changed file was not seen")
	}
	if _, ok := ts.app.gw.Routes().Lookup("watched"); !ok {
		t.Fatal("config change was not applied")
	}
}

func TestServerTimingReportsBulwarkAndUpstream(t *testing.T) {
	ts := start(t, fastConfig)
	for _, body := range []string{
		`{"model":"slow","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"slow","messages":[{"role":"user","content":"hi"}],"stream":true}`,
	} {
		resp, _ := ts.do(t, "POST", "/v1/chat/completions", body)
		st := resp.Header.Get("Server-Timing")
		var own, up float64
		if _, err := fmt.Sscanf(st, "bulwark;dur=%g, upstream;dur=%g", &own, &up); err != nil {
			t.Fatalf("Server-Timing = %q: %v", st, err)
		}
		// The slow model's first token takes 50ms: that is upstream time.
		if up < 50 || own < 0 {
			t.Errorf("Server-Timing = %q: upstream wait not attributed to the upstream", st)
		}
	}
}
