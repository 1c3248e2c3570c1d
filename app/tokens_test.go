package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// windowConfig serves sim models that would answer any prompt: only
// Bulwark's own check can refuse one.
const windowConfig = `
log: {level: warn}
providers:
  fast:
    type: sim
    models:
      fast-chat: {output_tokens: {min: 5, max: 5}}
      gpt-4: {output_tokens: {min: 5, max: 5}}
      text-embedding-3-small: {kind: embedding, dimensions: 8}
models:
  - name: chat
    context_window: 50
    targets: [{provider: fast, model: fast-chat}]
  - name: gpt4
    targets: [{provider: fast, model: gpt-4}]
  - name: embed
    targets: [{provider: fast, model: text-embedding-3-small}]
`

func chatJSON(t *testing.T, model, content string, extra map[string]any) string {
	t.Helper()
	req := map[string]any{"model": model, "messages": []map[string]string{{"role": "user", "content": content}}}
	for k, v := range extra {
		req[k] = v
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPromptOverTheContextWindowIsRefusedWithoutAnUpstreamCall(t *testing.T) {
	ts := start(t, windowConfig)
	long := strings.Repeat(" word", 60)
	for _, tc := range []struct {
		name  string
		extra map[string]any
		msg   string
	}{
		{"chat", nil, "This model's maximum context length is 50 tokens. However, your messages resulted in 67 tokens."},
		{"stream", map[string]any{"stream": true}, "your messages resulted in 67 tokens"},
		{"max_tokens", map[string]any{"max_tokens": 45}, "However, you requested 53 tokens (8 in the messages, 45 in the completion)."},
	} {
		content := long
		if tc.extra["max_tokens"] != nil {
			content = "hi"
		}
		resp, body := ts.do(t, "POST", "/v1/chat/completions", chatJSON(t, "chat", content, tc.extra))
		e := mustOpenAIError(t, resp, body, http.StatusBadRequest, "context_length_exceeded")
		if e.Error.Type != "invalid_request_error" || e.Error.Param == nil || *e.Error.Param != "messages" ||
			!strings.Contains(e.Error.Message, tc.msg) {
			t.Errorf("%s: error %s", tc.name, body)
		}
		if a := resp.Header.Get("X-Bulwark-Attempts"); a != "" {
			t.Errorf("%s: %s attempts", tc.name, a)
		}
	}
	// No attempt was made; the one a prompt that fits makes shows.
	if n := attempts(t, ts, "fast-chat"); n != 0 {
		t.Errorf("%v attempts on fast-chat for refused prompts", n)
	}
	resp, body := ts.do(t, "POST", "/v1/chat/completions", chatJSON(t, "chat", "hi", nil))
	if resp.StatusCode != 200 {
		t.Fatalf("a prompt that fits: %d %s", resp.StatusCode, body)
	}
	if n := attempts(t, ts, "fast-chat"); n != 1 {
		t.Errorf("%v attempts on fast-chat; want 1", n)
	}
}

// attempts sums bulwark_attempts_total over the samples of one upstream
// model, whatever their outcome.
func attempts(t *testing.T, ts *testServer, model string) float64 {
	t.Helper()
	_, body := ts.do(t, "GET", "/metrics", "")
	sum := 0.0
	for line := range strings.SplitSeq(string(body), "\n") {
		if !strings.HasPrefix(line, "bulwark_attempts_total{") || !strings.Contains(line, `model="`+model+`"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		sum += v
	}
	return sum
}

// With no context_window on the alias, an OpenAI model name's built-in
// window applies: 8,192 tokens for gpt-4, 8,191 per input for
// text-embedding-3-small.
func TestBuiltInWindowsOfOpenAIModels(t *testing.T) {
	ts := start(t, windowConfig)
	resp, body := ts.do(t, "POST", "/v1/chat/completions", chatJSON(t, "gpt4", strings.Repeat(" word", 8200), nil))
	e := mustOpenAIError(t, resp, body, http.StatusBadRequest, "context_length_exceeded")
	if !strings.Contains(e.Error.Message, "maximum context length is 8192 tokens") {
		t.Errorf("gpt-4: %s", body)
	}
	resp, body = ts.do(t, "POST", "/v1/chat/completions", chatJSON(t, "gpt4", strings.Repeat(" word", 8000), nil))
	if resp.StatusCode != 200 {
		t.Errorf("gpt-4 within its window: %d %s", resp.StatusCode, body)
	}

	in, _ := json.Marshal(map[string]any{"model": "embed", "input": []string{"short", strings.Repeat(" word", 9000)}})
	resp, body = ts.do(t, "POST", "/v1/embeddings", string(in))
	e = mustOpenAIError(t, resp, body, http.StatusBadRequest, "context_length_exceeded")
	if e.Error.Param == nil || *e.Error.Param != "input" || !strings.Contains(e.Error.Message, "8191 tokens, however you requested 9000 tokens") {
		t.Errorf("embeddings: %s", body)
	}
}

// Every usage record carries the X-Request-Id its response returned,
// whether the client sent it or Bulwark made it.
func TestLedgerRowCarriesTheRequestID(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, fastConfig, func(o *Options) { o.DataDir = dir })
	var ids []string
	for _, tc := range []struct{ path, body, id string }{
		{"/v1/chat/completions", chatBody, "client-chat-1"},
		{"/v1/chat/completions", strings.Replace(chatBody, `}`, `,"stream":true}`, 1), "client-stream-2"},
		{"/v1/embeddings", `{"model":"embed","input":"x"}`, "client-embed-3"},
		{"/v1/chat/completions", chatBody, ""},
	} {
		resp, body := ts.do(t, "POST", tc.path, tc.body, "X-Request-Id", tc.id)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", tc.path, resp.StatusCode, body)
		}
		id := resp.Header.Get("X-Request-Id")
		if tc.id != "" && id != tc.id || id == "" {
			t.Fatalf("X-Request-Id = %q, sent %q", id, tc.id)
		}
		ids = append(ids, id)
	}
	ts.stop() // flushes the usage writer into the store

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "bulwark.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(context.Background(), `SELECT request_id FROM usage_records`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(ids)
	if !slices.Equal(got, ids) {
		t.Errorf("ledger request ids %q; want %q", got, ids)
	}
}
