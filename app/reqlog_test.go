package app

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// requestLogConfig keeps a request log with content capture, cut at 64
// bytes, and logs at info so that the access log is written.
const requestLogConfig = `
log: {level: info}
telemetry:
  request_log: {enabled: true, capture_content: true, max_content_bytes: 64}
providers:
  fast:
    type: sim
    models:
      fast-chat: {output_tokens: {min: 5, max: 5}}
models:
  - name: chat
    targets: [{provider: fast, model: fast-chat}]
`

// logSink is a log output the test reads while the server writes.
type logSink struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// accessLines returns the access log lines of the log, by request id.
func accessLines(t *testing.T, log string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if line["msg"] == "request" {
			out[line["request_id"].(string)] = line
		}
	}
	return out
}

type requestLogRecord struct {
	ID               string `json:"id"`
	RequestID        string `json:"request_id"`
	TenantID         string `json:"tenant_id"`
	KeyID            string `json:"key_id"`
	Alias            string `json:"alias"`
	Target           string `json:"target"`
	Operation        string `json:"operation"`
	Stream           bool   `json:"stream"`
	Status           int    `json:"status"`
	ErrorType        string `json:"error_type"`
	LatencyNS        int64  `json:"latency_ns"`
	OverheadNS       int64  `json:"overhead_ns"`
	TTFTNS           int64  `json:"time_to_first_token_ns"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
	FinishReason     string `json:"finish_reason"`
	Attempts         []struct{ Target, ErrorKind string }
	Content          *struct {
		Messages   []struct{ Role, Content string }
		Completion string
		Truncated  bool
	}
}

// waitRequests polls the request log until it lists want records for the
// query (the writer flushes every second).
func waitRequests(t *testing.T, ts *testServer, query string, want int) []requestLogRecord {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, body := ts.do(t, "GET", "/admin/v1/requests?"+query, "")
		if resp.StatusCode != 200 {
			t.Fatalf("requests?%s = %d %s", query, resp.StatusCode, body)
		}
		var page struct{ Data []requestLogRecord }
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Data) == want {
			return page.Data
		}
		if time.Now().After(deadline) {
			t.Fatalf("requests?%s lists %d records after 5s; want %d: %s", query, len(page.Data), want, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Issue 6 items 3 and 4: every request leaves one request log record,
// queryable through the admin API, with its prompt and answer masked and
// cut; and one access log line with who, what, the outcome and where the
// time went — never the key.
func TestRequestLogAndAccessLog(t *testing.T) {
	logs := &logSink{}
	ts := start(t, requestLogConfig, func(o *Options) { o.LogOutput = logs })
	keyID, secret := createKey(t, ts, `{"id":"acme"}`, `{"tenant_id":"acme","name":"app"}`)
	auth := "Bearer " + secret
	prompt := `{"model":"chat","messages":[{"role":"user","content":"I am jane@example.com, key sk-abcdefghijklmnopqrstuvwxyz, card 4111 1111 1111 1111"}]}`

	resp, body := ts.do(t, "POST", "/v1/chat/completions", prompt, "Authorization", auth, "X-Request-Id", "rl-chat")
	if resp.StatusCode != 200 {
		t.Fatalf("chat = %d %s", resp.StatusCode, body)
	}
	stream := strings.Replace(prompt, `"model":"chat"`, `"model":"chat","stream":true`, 1)
	resp, body = ts.do(t, "POST", "/v1/chat/completions", stream, "Authorization", auth, "X-Request-Id", "rl-stream")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "[DONE]") {
		t.Fatalf("stream = %d %s", resp.StatusCode, body)
	}
	resp, body = ts.do(t, "POST", "/v1/chat/completions", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`,
		"Authorization", auth, "X-Request-Id", "rl-bad")
	if resp.StatusCode != 404 {
		t.Fatalf("unknown model = %d %s", resp.StatusCode, body)
	}

	recs := waitRequests(t, ts, "tenant=acme", 3)
	if resp, body := ts.do(t, "GET", "/admin/v1/requests", "", "Authorization", auth); resp.StatusCode != 403 {
		t.Errorf("a key that is not an admin key read the request log: %d %s", resp.StatusCode, body)
	}
	if got := []string{recs[0].RequestID, recs[1].RequestID, recs[2].RequestID}; strings.Join(got, ",") != "rl-bad,rl-stream,rl-chat" {
		t.Errorf("listed %v; want newest first", got)
	}
	for _, r := range recs {
		if r.TenantID != "acme" || r.KeyID != keyID || r.Operation != "chat" || r.LatencyNS <= 0 || r.Content != nil {
			t.Errorf("listed record %+v", r)
		}
	}
	if bad := waitRequests(t, ts, "tenant=acme&status=404", 1)[0]; bad.RequestID != "rl-bad" || bad.ErrorType != "model_not_found" || bad.Alias != "nope" {
		t.Errorf("failed request: %+v", bad)
	}

	for _, id := range []string{"rl-chat", "rl-stream"} {
		resp, body := ts.do(t, "GET", "/admin/v1/requests/"+id, "")
		if resp.StatusCode != 200 {
			t.Fatalf("get %s = %d %s", id, resp.StatusCode, body)
		}
		var r requestLogRecord
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		if r.Status != 200 || r.ErrorType != "" || r.Target != "fast/fast-chat" || r.Alias != "chat" || r.Stream != (id == "rl-stream") ||
			r.CompletionTokens != 5 || r.PromptTokens <= 0 || r.TTFTNS <= 0 || r.OverheadNS < 0 || r.OverheadNS > r.LatencyNS ||
			r.FinishReason == "" || len(r.Attempts) != 1 || r.Attempts[0].Target != "fast/fast-chat" {
			t.Errorf("%s: %+v", id, r)
		}
		c := r.Content
		if c == nil || len(c.Messages) != 1 || c.Completion == "" || len(c.Completion) > 64 {
			t.Fatalf("%s content: %+v", id, c)
		}
		if got := c.Messages[0].Content; !strings.HasPrefix(got, "I am [email], key [secret], card [card]") {
			t.Errorf("%s prompt not masked: %q", id, got)
		}
		for _, leak := range []string{"jane@", "sk-abc", "4111 1111"} {
			if strings.Contains(string(body), leak) {
				t.Errorf("%s record holds %q: %s", id, leak, body)
			}
		}
	}

	// The access log: one line per request, with the gateway's outcome.
	lines := accessLines(t, logs.String())
	chat := lines["rl-chat"]
	if chat == nil {
		t.Fatalf("no access line for rl-chat in %s", logs.String())
	}
	for k, want := range map[string]any{
		"status": 200.0, "tenant": "acme", "key_id": keyID, "model": "chat", "alias": "chat",
		"target": "fast/fast-chat", "attempts": 1.0, "tokens_out": 5.0,
	} {
		if chat[k] != want {
			t.Errorf("access line %s = %v; want %v (%v)", k, chat[k], want, chat)
		}
	}
	for _, k := range []string{"latency_ms", "overhead_ms", "upstream_ms", "tokens_in"} {
		if v, ok := chat[k].(float64); !ok || v < 0 {
			t.Errorf("access line %s = %v", k, chat[k])
		}
	}
	if s := lines["rl-stream"]; s == nil || s["tokens_out"] != 5.0 || s["attempts"] != 1.0 {
		t.Errorf("stream access line = %v", s)
	}
	if b := lines["rl-bad"]; b == nil || b["status"] != 404.0 || b["error_type"] != "model_not_found" {
		t.Errorf("failed request's access line = %v", b)
	}
	if strings.Contains(logs.String(), secret) || strings.Contains(logs.String(), testAdminKey) {
		t.Error("the log holds a key's secret")
	}

	// Nothing was lost, and the metric says so.
	resp, body = ts.do(t, "GET", "/metrics", "", "Authorization", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `bulwark_request_log_dropped_total{reason="queue_full"} 0`) {
		t.Errorf("metrics lack the request log's drop counter: %d", resp.StatusCode)
	}
}

func TestRequestLogIsOffByDefault(t *testing.T) {
	ts := start(t, fastConfig, func(o *Options) { o.LogOutput = io.Discard })
	ts.do(t, "POST", "/v1/chat/completions", chatBody)
	resp, body := ts.do(t, "GET", "/admin/v1/requests", "")
	e := mustOpenAIError(t, resp, body, 404, "request_log_disabled")
	if !strings.Contains(e.Error.Message, "telemetry.request_log.enabled") {
		t.Errorf("message %q does not say how to enable it", e.Error.Message)
	}
}

// With store: postgres the request log is in Postgres, shared by the
// replicas: a request served by one is found through another.
func TestRequestLogOnPostgresIsShared(t *testing.T) {
	pg, _ := scaledURLs(t)
	cfg := requestLogConfig + fmt.Sprintf("store: {type: postgres, url: %q}\n", pgSchema(t, pg))
	a, b := start(t, cfg), start(t, cfg)
	resp, body := a.do(t, "POST", "/v1/chat/completions", chatBody, "X-Request-Id", "rl-pg")
	if resp.StatusCode != 200 {
		t.Fatalf("chat = %d %s", resp.StatusCode, body)
	}
	recs := waitRequests(t, b, "alias=chat", 1)
	if r := recs[0]; r.RequestID != "rl-pg" || r.Status != 200 || r.Target != "fast/fast-chat" || r.CompletionTokens != 5 {
		t.Errorf("record read through the other replica: %+v", r)
	}
	resp, body = b.do(t, "GET", "/admin/v1/requests/rl-pg", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"completion":`) {
		t.Errorf("get rl-pg = %d %s", resp.StatusCode, body)
	}
}
