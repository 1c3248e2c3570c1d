package anthropic

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/api/openai"
	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/oai"
	"github.com/bulwark-ai/bulwark/llm/sim"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tenant"
)

const testKey = "bk-test-key"

type auth struct{}

func (auth) Authenticate(secret string) (tenant.Principal, error) {
	if secret != testKey {
		return tenant.Principal{}, tenant.ErrUnknownKey
	}
	return tenant.Principal{TenantID: "t", KeyID: "k"}, nil
}

// fake is an upstream whose answers the test sets: tool calls, errors
// and broken streams, which the simulator's chat completions do not give.
type fake struct {
	mu   sync.Mutex
	last []byte // the last request body
	// calls answers with these tool calls; err fails every call; broken
	// breaks streams after their first text.
	calls  []oai.ToolCall
	err    error
	broken bool
}

func (f *fake) body() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func (f *fake) Chat(_ context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	f.mu.Lock()
	f.last = req.Body
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	c := &oai.Completion{ID: "chatcmpl-abc", Model: req.Model, Text: "", ToolCalls: f.calls, FinishReason: oai.FinishToolCalls,
		Usage: llm.Usage{PromptTokens: 50, CompletionTokens: 7, CachedTokens: 20}}
	return c.Response(), nil
}

func (f *fake) Embed(context.Context, *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	return nil, &llm.Error{Kind: llm.KindBadRequest, Message: "no embeddings"}
}

func (f *fake) Stream(_ context.Context, req *llm.ChatRequest) (llm.Stream, error) {
	f.mu.Lock()
	f.last = req.Body
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	e := &oai.ChunkEncoder{ID: "chatcmpl-abc", Model: req.Model, Created: 1}
	chunks := []*llm.Chunk{e.Role(), e.Text("Let me check.")}
	if f.broken {
		return &chunkStream{chunks: chunks, err: &llm.Error{Kind: llm.KindStreamBroken, Provider: "fake", Model: req.Model,
			Message: "connection to 10.0.0.7:443 reset"}}, nil
	}
	for i, c := range f.calls {
		chunks = append(chunks, e.ToolCallStart(i, c.ID, c.Name))
		half := len(c.Arguments) / 2
		chunks = append(chunks, e.ToolCallArgs(i, c.Arguments[:half]), e.ToolCallArgs(i, c.Arguments[half:]))
	}
	chunks = append(chunks, e.Finish(oai.FinishToolCalls), e.Usage(llm.Usage{PromptTokens: 50, CompletionTokens: 7}))
	return &chunkStream{chunks: chunks}, nil
}

type chunkStream struct {
	chunks []*llm.Chunk
	err    error
}

func (s *chunkStream) Recv() (*llm.Chunk, error) {
	if len(s.chunks) == 0 {
		if s.err != nil {
			return nil, s.err
		}
		return nil, io.EOF
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return c, nil
}

func (s *chunkStream) Close() error { return nil }

type env struct {
	srv  *httptest.Server
	tool *fake
	bad  *fake
}

// newEnv serves the whole API (OpenAI's and Anthropic's, as app mounts
// them) over loopback HTTP: alias sim-chat on the in-process simulator,
// tools on a fake that calls tools, bad on a fake that fails, and
// failover, which tries bad and fails over to sim-chat.
func newEnv(t *testing.T) *env {
	t.Helper()
	s := sim.New("sim", 1, map[string]config.SimModel{"m": {OutputTokens: config.Range{Min: 12, Max: 12}}})
	e := &env{tool: &fake{calls: []oai.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}}},
		bad: &fake{err: &llm.Error{Kind: llm.KindOverloaded, Status: 503, Provider: "bad", Model: "b", Message: "over capacity", RetryAfter: 3 * time.Second}}}
	once := config.Retry{MaxAttempts: 1}
	tbl, err := route.New([]config.Model{
		{Name: "sim-chat", Targets: []config.Target{{Provider: "sim", Model: "m"}}},
		{Name: "tools", Targets: []config.Target{{Provider: "tool", Model: "f"}}},
		{Name: "bad", Targets: []config.Target{{Provider: "bad", Model: "b"}}, Retry: once},
		{Name: "failover", Targets: []config.Target{{Provider: "bad", Model: "b"}}, Fallbacks: []string{"sim-chat"}},
	}, map[string]llm.Provider{"sim": s, "tool": e.tool, "bad": e.bad}, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	o := openai.New(gateway.New(tbl, gateway.Options{}), 0, log)
	e.srv = httptest.NewServer(api.NewHandler(api.Options{Auth: auth{}, Log: log, MaxBodyBytes: 1 << 20, API: New(o).Routes()}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) do(t *testing.T, method, path, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-api-key", testKey)
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("content-type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := e.srv.Client().Do(req)
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

type message struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Role       string `json:"role"`
	Model      string `json:"model"`
	StopReason string `json:"stop_reason"`
	Content    []struct {
		Type  string          `json:"type"`
		Text  string          `json:"text"`
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	} `json:"content"`
	Usage map[string]int `json:"usage"`
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

type sse struct {
	name string
	data map[string]any
}

func events(t *testing.T, b []byte) []sse {
	t.Helper()
	var out []sse
	sc := bufio.NewScanner(bytes.NewReader(b))
	var name string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev := sse{name: name}
			if err := json.Unmarshal([]byte(line[6:]), &ev.data); err != nil {
				t.Fatalf("event %s data %q: %v", name, line, err)
			}
			if ev.data["type"] != name {
				t.Errorf("event %s has type %v", name, ev.data["type"])
			}
			out = append(out, ev)
			name = ""
		}
	}
	return out
}

func names(ev []sse) string {
	var b strings.Builder
	for i, e := range ev {
		if i > 0 && ev[i-1].name == e.name && e.name == "content_block_delta" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(e.name)
	}
	return b.String()
}

func TestMessagePlain(t *testing.T) {
	e := newEnv(t)
	resp, b := e.do(t, "POST", "/v1/messages", `{"model":"sim-chat","max_tokens":64,"system":[{"type":"text","text":"Be brief."}],
		"temperature":0.5,"top_p":0.9,"stop_sequences":["\n\nHuman:"],"metadata":{"user_id":"u-1"},
		"messages":[{"role":"user","content":"Say hello"}]}`, "X-Request-Id", "req-plain-1")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	m := decode[message](t, b)
	if m.Type != "message" || m.Role != "assistant" || m.Model != "sim-chat" || !strings.HasPrefix(m.ID, "msg_") {
		t.Errorf("message %+v", m)
	}
	if len(m.Content) != 1 || m.Content[0].Type != "text" || m.Content[0].Text == "" {
		t.Errorf("content %+v", m.Content)
	}
	if m.StopReason != "end_turn" && m.StopReason != "max_tokens" {
		t.Errorf("stop_reason %q", m.StopReason)
	}
	if m.Usage["input_tokens"] <= 0 || m.Usage["output_tokens"] != 12 {
		t.Errorf("usage %v", m.Usage)
	}
	if resp.Header.Get("X-Request-Id") != "req-plain-1" || resp.Header.Get(openai.HeaderTarget) != "sim/m" {
		t.Errorf("headers %v", resp.Header)
	}
}

func TestMessageStream(t *testing.T) {
	e := newEnv(t)
	resp, b := e.do(t, "POST", "/v1/messages", `{"model":"sim-chat","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Stream please"}]}`)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	ev := events(t, b)
	want := "message_start ping content_block_start content_block_delta content_block_stop message_delta message_stop"
	if got := names(ev); got != want {
		t.Fatalf("events %s, want %s", got, want)
	}
	var text strings.Builder
	for _, e := range ev {
		if e.name == "content_block_delta" {
			d := e.data["delta"].(map[string]any)
			if d["type"] != "text_delta" {
				t.Errorf("delta %v", d)
			}
			text.WriteString(d["text"].(string))
		}
	}
	if text.Len() == 0 {
		t.Error("no text")
	}
	md := ev[len(ev)-2].data
	if md["delta"].(map[string]any)["stop_reason"] == nil || md["usage"].(map[string]any)["output_tokens"].(float64) != 12 {
		t.Errorf("message_delta %v", md)
	}
}

func TestToolUse(t *testing.T) {
	e := newEnv(t)
	const ask = `{"model":"tools","max_tokens":100,%s"tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],
		"tool_choice":{"type":"tool","name":"get_weather","disable_parallel_tool_use":true},
		"messages":[{"role":"user","content":"Weather in Paris?"},
			{"role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Lyon"}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"12C"}]},{"type":"text","text":"And Paris?"}]}]}`
	resp, b := e.do(t, "POST", "/v1/messages", strings.Replace(ask, "%s", "", 1))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	m := decode[message](t, b)
	if m.StopReason != "tool_use" || len(m.Content) != 1 || m.Content[0].Type != "tool_use" || m.Content[0].ID != "call_1" ||
		m.Content[0].Name != "get_weather" || string(m.Content[0].Input) != `{"city":"Paris"}` {
		t.Errorf("message %s", b)
	}
	if m.Usage["input_tokens"] != 30 || m.Usage["cache_read_input_tokens"] != 20 || m.Usage["output_tokens"] != 7 {
		t.Errorf("usage %v", m.Usage)
	}
	// What the upstream was asked, in OpenAI's format.
	r, err := oai.ParseRequest(&llm.ChatRequest{Model: "f", Body: e.tool.body()})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Tools) != 1 || r.Tools[0].Name != "get_weather" || r.ToolChoice == nil || r.ToolChoice.Mode != oai.ToolFunction ||
		r.ParallelToolCalls == nil || *r.ParallelToolCalls || r.MaxTokens != 100 {
		t.Errorf("request %+v", r)
	}
	roles := ""
	for _, m := range r.Messages {
		roles += m.Role + " "
	}
	if roles != "user assistant tool user " {
		t.Fatalf("roles %q", roles)
	}
	if tc := r.Messages[1].ToolCalls; len(tc) != 1 || tc[0].ID != "toolu_1" || tc[0].Arguments != `{"city":"Lyon"}` {
		t.Errorf("tool calls %+v", tc)
	}
	if m := r.Messages[2]; m.ToolCallID != "toolu_1" || m.Text() != "12C" {
		t.Errorf("tool result %+v", m)
	}

	resp, b = e.do(t, "POST", "/v1/messages", strings.Replace(ask, "%s", `"stream":true,`, 1))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	ev := events(t, b)
	want := "message_start ping content_block_start content_block_delta content_block_stop content_block_start content_block_delta content_block_stop message_delta message_stop"
	if got := names(ev); got != want {
		t.Fatalf("events %s, want %s", got, want)
	}
	var args string
	for _, e := range ev {
		if d, ok := e.data["delta"].(map[string]any); ok && d["type"] == "input_json_delta" {
			args += d["partial_json"].(string)
			if e.data["index"].(float64) != 1 {
				t.Errorf("tool delta at %v", e.data["index"])
			}
		}
	}
	if args != `{"city":"Paris"}` {
		t.Errorf("arguments %q", args)
	}
	if cb := ev[5].data["content_block"].(map[string]any); cb["type"] != "tool_use" || cb["id"] != "call_1" || cb["name"] != "get_weather" {
		t.Errorf("tool block %v", cb)
	}
	if sr := ev[len(ev)-2].data["delta"].(map[string]any)["stop_reason"]; sr != "tool_use" {
		t.Errorf("stop_reason %v", sr)
	}
}

func TestImages(t *testing.T) {
	e := newEnv(t)
	resp, b := e.do(t, "POST", "/v1/messages", `{"model":"tools","max_tokens":10,"messages":[{"role":"user","content":[
		{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
		{"type":"image","source":{"type":"url","url":"https://example.com/a.jpg"}},
		{"type":"text","text":"What is this?"}]}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	r, err := oai.ParseRequest(&llm.ChatRequest{Model: "f", Body: e.tool.body()})
	if err != nil {
		t.Fatal(err)
	}
	p := r.Messages[0].Parts
	if len(p) != 3 || p[0].Type != oai.PartImage || p[1].URL != "https://example.com/a.jpg" || p[2].Text != "What is this?" {
		t.Fatalf("parts %+v", p)
	}
	if mt, data, ok := p[0].Image(); !ok || mt != "image/png" || len(data) != 8 {
		t.Errorf("image %q %v %v", mt, data, ok)
	}
	// Images reach the simulator too, which counts them.
	resp, b = e.do(t, "POST", "/v1/messages", `{"model":"sim-chat","max_tokens":10,"messages":[{"role":"user","content":[
		{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"text","text":"Describe"}]}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
}

type errorBody struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func TestErrors(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		name, path, body string
		hdr              []string
		status           int
		typ, mention     string
	}{
		{"no key", "/v1/messages", `{}`, []string{"x-api-key", ""}, 401, "authentication_error", "API key"},
		{"bad key", "/v1/messages", `{}`, []string{"x-api-key", "nope"}, 401, "authentication_error", "not valid"},
		{"bearer", "/v1/messages", `{"model":"sim-chat","messages":[]}`, []string{"x-api-key", "", "Authorization", "Bearer " + testKey}, 400, "invalid_request_error", "max_tokens"},
		{"no model", "/v1/messages", `{"max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, nil, 400, "invalid_request_error", "model"},
		{"empty messages", "/v1/messages", `{"model":"sim-chat","max_tokens":5,"messages":[]}`, nil, 400, "invalid_request_error", "messages"},
		{"bad role", "/v1/messages", `{"model":"sim-chat","max_tokens":5,"messages":[{"role":"system","content":"x"}]}`, nil, 400, "invalid_request_error", "messages.0.role"},
		{"top_k", "/v1/messages", `{"model":"sim-chat","max_tokens":5,"top_k":5,"messages":[{"role":"user","content":"x"}]}`, nil, 400, "invalid_request_error", "top_k"},
		{"unknown field", "/v1/messages", `{"model":"sim-chat","max_tokens":5,"bogus":1,"messages":[{"role":"user","content":"x"}]}`, nil, 400, "invalid_request_error", "bogus"},
		{"wrong type", "/v1/messages", `{"model":"sim-chat","max_tokens":"5","messages":[{"role":"user","content":"x"}]}`, nil, 400, "invalid_request_error", "max_tokens"},
		{"bad image", "/v1/messages", `{"model":"sim-chat","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"AA=="}}]}]}`, nil, 400, "invalid_request_error", "messages.0.content.0.source.media_type"},
		{"temperature", "/v1/messages", `{"model":"sim-chat","max_tokens":5,"temperature":1.5,"messages":[{"role":"user","content":"x"}]}`, nil, 400, "invalid_request_error", "temperature"},
		{"bad header", "/v1/messages", `{"model":"sim-chat","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, []string{"X-Stainless-Timeout", "soon"}, 400, "invalid_request_error", "X-Stainless-Timeout"},
		{"unknown model", "/v1/messages", `{"model":"nope","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, nil, 404, "not_found_error", "nope"},
		{"overloaded", "/v1/messages", `{"model":"bad","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, nil, 529, "overloaded_error", "over capacity"},
		{"overloaded stream", "/v1/messages", `{"model":"bad","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"x"}]}`, nil, 529, "overloaded_error", "over capacity"},
		{"unknown path", "/v1/messages/nope", `{}`, nil, 404, "not_found_error", "/v1/messages/nope"},
		{"method", "/v1/messages", ``, []string{"method", "GET"}, 405, "invalid_request_error", "GET"},
		{"too large", "/v1/messages", `{"model":"` + strings.Repeat("x", 1<<20) + `"}`, nil, 413, "request_too_large", "limit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			method := "POST"
			if len(c.hdr) == 2 && c.hdr[0] == "method" {
				method, c.hdr = c.hdr[1], nil
			}
			resp, b := e.do(t, method, c.path, c.body, c.hdr...)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
			eb := decode[errorBody](t, b)
			if eb.Type != "error" || eb.Error.Type != c.typ || !strings.Contains(eb.Error.Message, c.mention) {
				t.Errorf("error %s, want %s mentioning %q", b, c.typ, c.mention)
			}
			if c.status == 529 && resp.Header.Get("Retry-After") != "3" {
				t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
			}
		})
	}
}

func TestFailover(t *testing.T) {
	e := newEnv(t)
	resp, b := e.do(t, "POST", "/v1/messages", `{"model":"failover","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 || resp.Header.Get(openai.HeaderTarget) != "sim/m" {
		t.Fatalf("status %d target %q: %s", resp.StatusCode, resp.Header.Get(openai.HeaderTarget), b)
	}
	if m := decode[message](t, b); m.Model != "failover" || len(m.Content) != 1 {
		t.Errorf("message %s", b)
	}
}

func TestBrokenStreamEndsWithError(t *testing.T) {
	e := newEnv(t)
	e.tool.broken = true
	resp, b := e.do(t, "POST", "/v1/messages", `{"model":"tools","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	ev := events(t, b)
	last := ev[len(ev)-1]
	if last.name != "error" || strings.Contains(string(b), "message_stop") {
		t.Fatalf("events %s", names(ev))
	}
	if last.data["error"].(map[string]any)["type"] != "api_error" {
		t.Errorf("error %v", last.data)
	}
}

func TestCountTokens(t *testing.T) {
	e := newEnv(t)
	resp, b := e.do(t, "POST", "/v1/messages/count_tokens", `{"model":"sim-chat","system":"You are terse.","messages":[{"role":"user","content":"Hello, world"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	n := decode[map[string]int](t, b)["input_tokens"]
	if n < 5 || n > 40 {
		t.Errorf("input_tokens %d", n)
	}
	resp, b = e.do(t, "POST", "/v1/messages/count_tokens", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`)
	if resp.StatusCode != 404 {
		t.Errorf("status %d: %s", resp.StatusCode, b)
	}
}

func TestModels(t *testing.T) {
	e := newEnv(t)
	_, b := e.do(t, "GET", "/v1/models", "")
	list := decode[struct {
		Data []struct {
			Type, ID, DisplayName string
		} `json:"data"`
		HasMore bool   `json:"has_more"`
		FirstID string `json:"first_id"`
		LastID  string `json:"last_id"`
	}](t, b)
	if len(list.Data) != 4 || list.Data[0].Type != "model" || list.FirstID != "bad" || list.LastID != "tools" || list.HasMore {
		t.Errorf("models %s", b)
	}
	// Without anthropic-version: OpenAI's shape.
	_, b = e.do(t, "GET", "/v1/models", "", "anthropic-version", "")
	if !strings.Contains(string(b), `"object":"list"`) {
		t.Errorf("OpenAI models %s", b)
	}
	resp, b := e.do(t, "GET", "/v1/models/sim-chat", "")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"type":"model"`) {
		t.Errorf("model %d %s", resp.StatusCode, b)
	}
	resp, b = e.do(t, "GET", "/v1/models/nope", "")
	if resp.StatusCode != 404 || !strings.Contains(string(b), "not_found_error") {
		t.Errorf("model %d %s", resp.StatusCode, b)
	}
}
