package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/responses/responsestest"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tenant"
)

// recorder is an upstream that records the chat requests it is sent and
// answers each with the completion, or the stream, the test set.
type recorder struct {
	mu     sync.Mutex
	bodies []map[string]any
	answer string        // the completion's message, JSON
	finish string        // its finish_reason
	chunks []string      // a stream's chunks (delta JSON of choice 0)
	fail   *llm.Error    // a stream's failure after its chunks, if any
	usage  llm.Usage     // the usage reported
	calls  chan struct{} // nil, or told of every call
}

func (p *recorder) record(req *llm.ChatRequest) {
	var m map[string]any
	_ = json.Unmarshal(req.Body, &m)
	p.mu.Lock()
	p.bodies = append(p.bodies, m)
	p.mu.Unlock()
}

// last returns the body of the last request.
func (p *recorder) last(t *testing.T) map[string]any {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.bodies) == 0 {
		t.Fatal("no request reached the upstream")
	}
	return p.bodies[len(p.bodies)-1]
}

func (p *recorder) Chat(_ context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	p.record(req)
	finish := cmpOr(p.finish, "stop")
	body := `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":` +
		p.answer + `,"finish_reason":"` + finish + `"}]}`
	return &llm.ChatResponse{Body: []byte(body), Model: "m", FinishReasons: []string{finish}, Usage: p.usage}, nil
}

func (p *recorder) Stream(_ context.Context, req *llm.ChatRequest) (llm.Stream, error) {
	p.record(req)
	s := &scriptStream{fail: p.fail}
	for _, c := range p.chunks {
		s.chunks = append(s.chunks, &llm.Chunk{HasContent: true,
			Data: []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":` + c + `,"finish_reason":null}]}`)})
	}
	if p.fail == nil {
		finish := cmpOr(p.finish, "stop")
		s.chunks = append(s.chunks, &llm.Chunk{HasContent: true, FinishReason: finish,
			Data: []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"` + finish + `"}]}`)})
		u := p.usage
		s.chunks = append(s.chunks, &llm.Chunk{Usage: &u, Data: []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","model":"m","choices":[]}`)})
	}
	return s, nil
}

func (p *recorder) Embed(context.Context, *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	return nil, &llm.Error{Kind: llm.KindBadRequest, Message: "chat only"}
}

func cmpOr(a, b string) string {
	if a == "" {
		return b
	}
	return a
}

// scriptStream sends its chunks, then io.EOF or its failure.
type scriptStream struct {
	chunks []*llm.Chunk
	fail   *llm.Error
}

func (s *scriptStream) Recv() (*llm.Chunk, error) {
	if len(s.chunks) == 0 {
		if s.fail != nil {
			return nil, s.fail
		}
		return nil, io.EOF
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return c, nil
}

func (s *scriptStream) Close() error { return nil }

// responsesServer serves the Responses API over p for the tenant the
// X-Tenant header names.
func responsesServer(t *testing.T, p llm.Provider) (*httptest.Server, *responsestest.Memory) {
	t.Helper()
	tbl, err := route.New([]config.Model{{Name: "chat", Targets: []config.Target{{Provider: "up", Model: "m"}}}},
		map[string]llm.Provider{"up": p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := New(gateway.New(tbl, gateway.Options{}), 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
	store := &responsestest.Memory{}
	rs := NewResponses(h, store, nil, 0)
	mux := http.NewServeMux()
	for pattern, handle := range rs.Routes() {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			handle(w, r, tenant.Principal{TenantID: cmpOr(r.Header.Get("X-Tenant"), "acme")})
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, store
}

func call(t *testing.T, srv *httptest.Server, method, path, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// wireResponse is the part of a Response the tests read.
type wireResponse struct {
	ID                 string  `json:"id"`
	Object             string  `json:"object"`
	Status             string  `json:"status"`
	Model              string  `json:"model"`
	PreviousResponseID *string `json:"previous_response_id"`
	Output             []struct {
		Type      string `json:"type"`
		ID        string `json:"id"`
		Status    string `json:"status"`
		Role      string `json:"role"`
		CallID    string `json:"call_id"`
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
		Content   []struct {
			Type        string       `json:"type"`
			Text        string       `json:"text"`
			Annotations []annotation `json:"annotations"`
		} `json:"content"`
	} `json:"output"`
	Usage *struct {
		InputTokens  int `json:"input_tokens"`
		OutputTokens int `json:"output_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
	IncompleteDetails *struct{ Reason string } `json:"incomplete_details"`
	Error             *responseError           `json:"error"`
}

func decodeResponse(t *testing.T, b []byte) wireResponse {
	t.Helper()
	var r wireResponse
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("not a response: %v: %s", err, b)
	}
	return r
}

func messages(t *testing.T, body map[string]any) []map[string]any {
	t.Helper()
	raw, _ := json.Marshal(body["messages"])
	var out []map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// A Responses request becomes the chat request it means: instructions as
// the system message, every item kind in order (a function call joined to
// the assistant's message), function tools, tool_choice, text.format and
// the sampling fields; the answer is a Response with the text as an
// output_text and the usage in input/output tokens.
func TestResponsesTranslateRequestAndAnswer(t *testing.T) {
	p := &recorder{answer: `{"role":"assistant","content":"It is sunny."}`, usage: llm.Usage{PromptTokens: 40, CompletionTokens: 4, TotalTokens: 44}}
	srv, _ := responsesServer(t, p)
	body := `{"model":"chat","instructions":"Be brief.","max_output_tokens":50,"temperature":0.5,"top_p":0.9,
	  "metadata":{"k":"v"},"user":"u-1","parallel_tool_calls":false,
	  "text":{"format":{"type":"json_schema","name":"w","schema":{"type":"object"},"strict":true}},
	  "tools":[{"type":"function","name":"weather","description":"Weather now","parameters":{"type":"object"},"strict":true}],
	  "tool_choice":{"type":"function","name":"weather"},
	  "input":[
	    {"role":"user","content":"Weather in Oslo?"},
	    {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Let me check.","annotations":[]}]},
	    {"type":"function_call","call_id":"call_1","name":"weather","arguments":"{\"city\":\"Oslo\"}"},
	    {"type":"function_call_output","call_id":"call_1","output":"{\"temp\":3}"},
	    {"type":"message","role":"user","content":[{"type":"input_text","text":"And this?"},{"type":"input_image","image_url":"https://example.com/a.png","detail":"low"}]}
	  ]}`
	resp, out := call(t, srv, "POST", "/v1/responses", body)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	sent := p.last(t)
	want := []map[string]any{
		{"role": "system", "content": "Be brief."},
		{"role": "user", "content": "Weather in Oslo?"},
		{"role": "assistant", "content": "Let me check.", "tool_calls": []any{map[string]any{"id": "call_1", "type": "function",
			"function": map[string]any{"name": "weather", "arguments": `{"city":"Oslo"}`}}}},
		{"role": "tool", "tool_call_id": "call_1", "content": `{"temp":3}`},
		{"role": "user", "content": []any{map[string]any{"type": "text", "text": "And this?"},
			map[string]any{"type": "image_url", "image_url": map[string]any{"url": "https://example.com/a.png", "detail": "low"}}}},
	}
	if got := messages(t, sent); !reflect.DeepEqual(got, want) {
		t.Errorf("messages sent:\n%v\nwant\n%v", got, want)
	}
	if sent["max_completion_tokens"] != 50.0 || sent["temperature"] != 0.5 || sent["top_p"] != 0.9 || sent["user"] != "u-1" ||
		sent["parallel_tool_calls"] != false || sent["stream"] != nil {
		t.Errorf("fields sent: %v", sent)
	}
	if tc, _ := json.Marshal(sent["tool_choice"]); string(tc) != `{"function":{"name":"weather"},"type":"function"}` {
		t.Errorf("tool_choice sent: %s", tc)
	}
	if tools, _ := json.Marshal(sent["tools"]); string(tools) != `[{"function":{"description":"Weather now","name":"weather","parameters":{"type":"object"},"strict":true},"type":"function"}]` {
		t.Errorf("tools sent: %s", tools)
	}
	if rf, _ := json.Marshal(sent["response_format"]); string(rf) != `{"json_schema":{"name":"w","schema":{"type":"object"},"strict":true},"type":"json_schema"}` {
		t.Errorf("response_format sent: %s", rf)
	}
	if _, ok := sent["metadata"]; ok {
		t.Error("metadata was sent upstream")
	}
	r := decodeResponse(t, out)
	if !strings.HasPrefix(r.ID, "resp_") || r.Object != "response" || r.Status != "completed" || r.Model != "chat" ||
		len(r.Output) != 1 || r.Output[0].Type != "message" || r.Output[0].Role != "assistant" || !strings.HasPrefix(r.Output[0].ID, "msg_") ||
		len(r.Output[0].Content) != 1 || r.Output[0].Content[0].Type != "output_text" || r.Output[0].Content[0].Text != "It is sunny." ||
		r.Output[0].Content[0].Annotations == nil || r.Usage == nil || r.Usage.InputTokens != 40 || r.Usage.OutputTokens != 4 || r.Usage.TotalTokens != 44 {
		t.Errorf("response: %s", out)
	}
	var echo map[string]any
	_ = json.Unmarshal(out, &echo)
	if echo["instructions"] != "Be brief." || echo["store"] != true || echo["max_output_tokens"] != 50.0 ||
		!reflect.DeepEqual(echo["metadata"], map[string]any{"k": "v"}) || echo["parallel_tool_calls"] != false {
		t.Errorf("echoed fields: %s", out)
	}
}

// previous_response_id continues the stored conversation (its input and
// its answer, not its instructions); GET reads a response and DELETE
// removes it; another tenant finds none of it; store:false keeps nothing.
func TestResponsesConversationState(t *testing.T) {
	p := &recorder{answer: `{"role":"assistant","content":"Hi, Ada."}`}
	srv, _ := responsesServer(t, p)
	resp, out := call(t, srv, "POST", "/v1/responses", `{"model":"chat","instructions":"Be kind.","input":"I am Ada."}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	first := decodeResponse(t, out)
	resp, out = call(t, srv, "POST", "/v1/responses", `{"model":"chat","previous_response_id":"`+first.ID+`","input":[{"role":"user","content":"Who am I?"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	second := decodeResponse(t, out)
	want := []map[string]any{
		{"role": "user", "content": "I am Ada."},
		{"role": "assistant", "content": "Hi, Ada."},
		{"role": "user", "content": "Who am I?"},
	}
	if got := messages(t, p.last(t)); !reflect.DeepEqual(got, want) {
		t.Errorf("continued with %v, want %v", got, want)
	}
	if second.PreviousResponseID == nil || *second.PreviousResponseID != first.ID {
		t.Errorf("previous_response_id: %s", out)
	}
	// A third turn chains through the second.
	if resp, out = call(t, srv, "POST", "/v1/responses", `{"model":"chat","previous_response_id":"`+second.ID+`","input":"Again?"}`); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	if got := messages(t, p.last(t)); len(got) != 5 || got[4]["content"] != "Again?" {
		t.Errorf("third turn sent %v", got)
	}

	resp, out = call(t, srv, "GET", "/v1/responses/"+first.ID, "")
	if got := decodeResponse(t, out); resp.StatusCode != 200 || got.ID != first.ID || got.Output[0].Content[0].Text != "Hi, Ada." {
		t.Errorf("GET: %d %s", resp.StatusCode, out)
	}
	resp, out = call(t, srv, "GET", "/v1/responses/"+second.ID+"/input_items?order=asc", "")
	var items struct {
		Object string
		Data   []struct{ ID, Type, Role string }
	}
	if json.Unmarshal(out, &items) != nil || resp.StatusCode != 200 || items.Object != "list" || len(items.Data) != 3 ||
		items.Data[0].Role != "user" || items.Data[1].Role != "assistant" || items.Data[2].ID == "" {
		t.Errorf("input items: %d %s", resp.StatusCode, out)
	}

	// Another tenant: 404 for every use of the id.
	for _, c := range []struct{ method, path, body, code string }{
		{"GET", "/v1/responses/" + first.ID, "", "not_found"},
		{"DELETE", "/v1/responses/" + first.ID, "", "not_found"},
		{"POST", "/v1/responses", `{"model":"chat","previous_response_id":"` + first.ID + `","input":"x"}`, "previous_response_not_found"},
	} {
		resp, out := call(t, srv, c.method, c.path, c.body, "X-Tenant", "globex")
		if e := mustError(t, resp, out, 404); e.Code == nil || *e.Code != c.code {
			t.Errorf("%s %s by another tenant: %s", c.method, c.path, out)
		}
	}

	resp, out = call(t, srv, "DELETE", "/v1/responses/"+first.ID, "")
	if resp.StatusCode != 200 || string(out) != `{"id":"`+first.ID+`","object":"response","deleted":true}` {
		t.Errorf("DELETE: %d %s", resp.StatusCode, out)
	}
	if resp, out = call(t, srv, "GET", "/v1/responses/"+first.ID, ""); resp.StatusCode != 404 {
		t.Errorf("GET after DELETE: %d %s", resp.StatusCode, out)
	}
	// The second turn holds the whole conversation: it still continues.
	if resp, out = call(t, srv, "POST", "/v1/responses", `{"model":"chat","previous_response_id":"`+second.ID+`","input":"Still?"}`); resp.StatusCode != 200 {
		t.Errorf("continuing after the first turn was deleted: %d %s", resp.StatusCode, out)
	}

	_, out = call(t, srv, "POST", "/v1/responses", `{"model":"chat","input":"Forget me.","store":false}`)
	unstored := decodeResponse(t, out)
	if resp, out = call(t, srv, "GET", "/v1/responses/"+unstored.ID, ""); resp.StatusCode != 404 {
		t.Errorf("store:false was stored: %d %s", resp.StatusCode, out)
	}
}

func mustError(t *testing.T, resp *http.Response, body []byte, status int) WireErrorForTest {
	t.Helper()
	var e struct{ Error WireErrorForTest }
	if resp.StatusCode != status || json.Unmarshal(body, &e) != nil || e.Error.Message == "" {
		t.Fatalf("got %d %s; want a %d error", resp.StatusCode, body, status)
	}
	return e.Error
}

// WireErrorForTest is OpenAI's error object.
type WireErrorForTest struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// A model's tool calls are function_call items with call_id, name and
// arguments; an answer cut by max_output_tokens is incomplete.
func TestResponsesFunctionCallsAndIncomplete(t *testing.T) {
	p := &recorder{finish: "tool_calls", answer: `{"role":"assistant","content":null,"tool_calls":[
	  {"id":"call_a","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Oslo\"}"}},
	  {"id":"call_b","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Rome\"}"}}]}`}
	srv, _ := responsesServer(t, p)
	_, out := call(t, srv, "POST", "/v1/responses", `{"model":"chat","input":"Weather?","tools":[{"type":"function","name":"weather","parameters":{"type":"object"}}]}`)
	r := decodeResponse(t, out)
	if r.Status != "completed" || len(r.Output) != 2 {
		t.Fatalf("response: %s", out)
	}
	for i, c := range []struct{ id, args string }{{"call_a", `{"city":"Oslo"}`}, {"call_b", `{"city":"Rome"}`}} {
		o := r.Output[i]
		if o.Type != "function_call" || o.CallID != c.id || o.Name != "weather" || o.Arguments != c.args || !strings.HasPrefix(o.ID, "fc_") || o.Status != "completed" {
			t.Errorf("output[%d] = %+v", i, o)
		}
	}
	p.answer, p.finish = `{"role":"assistant","content":"Cut"}`, "length"
	_, out = call(t, srv, "POST", "/v1/responses", `{"model":"chat","input":"Long","max_output_tokens":1}`)
	if r := decodeResponse(t, out); r.Status != "incomplete" || r.IncompleteDetails == nil || r.IncompleteDetails.Reason != "max_output_tokens" {
		t.Errorf("cut answer: %s", out)
	}
}

// sseEvent is one server-sent event of a response stream.
type sseEvent struct {
	name string
	data map[string]any
	raw  string
}

func readEvents(t *testing.T, body []byte) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.raw = strings.TrimPrefix(line, "data: ")
			if err := json.Unmarshal([]byte(cur.raw), &cur.data); err != nil {
				t.Fatalf("event data is not JSON: %s", line)
			}
		case line == "" && cur.name != "":
			if cur.data["type"] != cur.name {
				t.Errorf("event %s has type %v", cur.name, cur.data["type"])
			}
			out = append(out, cur)
			cur = sseEvent{}
		}
	}
	for i, e := range out {
		if e.data["sequence_number"] != float64(i) {
			t.Errorf("event %d (%s) has sequence_number %v", i, e.name, e.data["sequence_number"])
		}
	}
	return out
}

func names(evs []sseEvent) []string {
	var out []string
	for i, e := range evs {
		if i > 0 && e.name == evs[i-1].name && strings.HasSuffix(e.name, ".delta") {
			continue // a run of deltas is one entry
		}
		out = append(out, e.name)
	}
	return out
}

// A stream is the typed event sequence with contiguous sequence numbers:
// the deltas add up to the text the completed response carries, and the
// response is stored.
func TestResponsesStreamEvents(t *testing.T) {
	p := &recorder{chunks: []string{`{"role":"assistant","content":""}`, `{"content":"Hello"}`, `{"content":" there"}`},
		usage: llm.Usage{PromptTokens: 9, CompletionTokens: 2, TotalTokens: 11}}
	srv, _ := responsesServer(t, p)
	resp, out := call(t, srv, "POST", "/v1/responses", `{"model":"chat","input":"Hi","stream":true}`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	if so, _ := json.Marshal(p.last(t)["stream_options"]); string(so) != `{"include_usage":true}` {
		t.Errorf("stream_options sent: %s", so)
	}
	evs := readEvents(t, out)
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
		"response.output_text.delta", "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"}
	if got := names(evs); !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v\nwant %v", got, want)
	}
	text := ""
	for _, e := range evs {
		if e.name == "response.output_text.delta" {
			text += e.data["delta"].(string)
		}
	}
	if created := evs[0].data["response"].(map[string]any); created["status"] != "in_progress" {
		t.Errorf("created: %s", evs[0].raw)
	}
	done := evs[len(evs)-1]
	r := decodeResponse(t, []byte(mustJSON(done.data["response"])))
	if text != "Hello there" || r.Status != "completed" || len(r.Output) != 1 || r.Output[0].Content[0].Text != text ||
		r.Usage == nil || r.Usage.TotalTokens != 11 {
		t.Errorf("completed %s; deltas %q", done.raw, text)
	}
	if resp, got := call(t, srv, "GET", "/v1/responses/"+r.ID, ""); resp.StatusCode != 200 || decodeResponse(t, got).Output[0].Content[0].Text != text {
		t.Errorf("stored: %d %s", resp.StatusCode, got)
	}
}

// farFuture is a time every stored response has expired at.
var farFuture = time.Now().AddDate(100, 0, 0)

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Streamed tool calls are function_call items with their argument
// deltas and done events, after the text they follow.
func TestResponsesStreamFunctionCalls(t *testing.T) {
	p := &recorder{finish: "tool_calls", chunks: []string{
		`{"role":"assistant","content":"Checking."}`,
		`{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"weather","arguments":""}}]}`,
		`{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}`,
		`{"tool_calls":[{"index":0,"function":{"arguments":"\"Oslo\"}"}}]}`,
	}}
	srv, _ := responsesServer(t, p)
	_, out := call(t, srv, "POST", "/v1/responses", `{"model":"chat","input":"Weather?","stream":true,"tools":[{"type":"function","name":"weather"}]}`)
	evs := readEvents(t, out)
	want := []string{"response.created", "response.in_progress",
		"response.output_item.added", "response.content_part.added", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done",
		"response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.done",
		"response.output_item.done", "response.completed"}
	if got := names(evs); !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v\nwant %v", got, want)
	}
	var args string
	for _, e := range evs {
		if e.name == "response.function_call_arguments.done" {
			args = e.data["arguments"].(string)
			if e.data["output_index"] != 1.0 {
				t.Errorf("call at %v", e.data["output_index"])
			}
		}
	}
	r := decodeResponse(t, []byte(mustJSON(evs[len(evs)-1].data["response"])))
	if args != `{"city":"Oslo"}` || len(r.Output) != 2 || r.Output[1].CallID != "call_a" || r.Output[1].Arguments != args || r.Output[1].Name != "weather" {
		t.Errorf("completed: %s", evs[len(evs)-1].raw)
	}
}

// A stream that breaks after its first event ends with response.failed
// and an error event: never response.completed, never stored.
func TestResponsesStreamFailure(t *testing.T) {
	p := &recorder{chunks: []string{`{"content":"Half"}`}, fail: &llm.Error{Kind: llm.KindStreamBroken, Message: "connection cut"}}
	srv, store := responsesServer(t, p)
	resp, out := call(t, srv, "POST", "/v1/responses", `{"model":"chat","input":"Hi","stream":true}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	evs := readEvents(t, out)
	got := names(evs)
	if len(got) < 3 || got[len(got)-2] != "response.failed" || got[len(got)-1] != "error" || strings.Contains(string(out), "response.completed") {
		t.Fatalf("events %v", got)
	}
	failed := evs[len(evs)-2].data["response"].(map[string]any)
	if failed["status"] != "failed" || failed["error"] == nil {
		t.Errorf("response.failed: %s", evs[len(evs)-2].raw)
	}
	if evs[len(evs)-1].data["message"] == "" {
		t.Errorf("error event: %s", evs[len(evs)-1].raw)
	}
	if n, _ := store.PurgeResponses(t.Context(), farFuture); n != 0 {
		t.Errorf("%d failed responses stored", n)
	}
}

// Client mistakes are 400s in OpenAI's format naming the parameter (an
// unknown previous_response_id a 404), and nothing reaches the upstream.
func TestResponsesBadRequests(t *testing.T) {
	p := &recorder{answer: `{"role":"assistant","content":"x"}`}
	srv, _ := responsesServer(t, p)
	for _, c := range []struct{ body, param string }{
		{`{"input":"hi"}`, "model"},
		{`{"model":"chat"}`, "input"},
		{`{"model":"chat","input":42}`, "input"},
		{`{"model":"chat","input":[]}`, "input"},
		{`{"model":"chat","input":[{"role":"robot","content":"hi"}]}`, "input[0].role"},
		{`{"model":"chat","input":[{"role":"user"}]}`, "input[0].content"},
		{`{"model":"chat","input":[{"role":"user","content":[{"type":"input_file","file_id":"f"}]}]}`, "input[0].content[0].type"},
		{`{"model":"chat","input":[{"role":"user","content":[{"type":"input_text"}]}]}`, "input[0].content[0].text"},
		{`{"model":"chat","input":[{"type":"function_call_output","output":"x"}]}`, "input[0].call_id"},
		{`{"model":"chat","input":[{"type":"computer_call"}]}`, "input[0].type"},
		{`{"model":"chat","input":"hi","tools":[{"type":"web_search"}]}`, "tools[0].type"},
		{`{"model":"chat","input":"hi","tools":[{"type":"function"}]}`, "tools[0].name"},
		{`{"model":"chat","input":"hi","tools":[{"type":"file_search"}]}`, "tools[0].vector_store_ids"},
		{`{"model":"chat","input":"hi","tool_choice":"required"}`, "tool_choice"},
		{`{"model":"chat","input":"hi","tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"function","name":"g"}}`, "tool_choice.name"},
		{`{"model":"chat","input":"hi","max_output_tokens":0}`, "max_output_tokens"},
		{`{"model":"chat","input":"hi","temperature":3}`, "temperature"},
		{`{"model":"chat","input":"hi","text":{"format":{"type":"xml"}}}`, "text.format.type"},
		{`{"model":"chat","input":"hi","background":true}`, "background"},
		{`{"model":"chat","input":"hi","truncation":"auto"}`, "truncation"},
		{`{"model":"chat","input":"hi","previous_response_id":""}`, "previous_response_id"},
		{`{"model":"chat","input":"hi","include":["nope"]}`, "include[0]"},
		{`{"model":"chat","input":"hi","stream_options":{}}`, "stream_options"},
		{`{"model":"chat","input":"hi","metadata":{"k":1}}`, "metadata"},
	} {
		resp, out := call(t, srv, "POST", "/v1/responses", c.body)
		e := mustError(t, resp, out, 400)
		if e.Param == nil || *e.Param != c.param || e.Type != "invalid_request_error" {
			t.Errorf("%s: %s; want param %s", c.body, out, c.param)
		}
	}
	resp, out := call(t, srv, "POST", "/v1/responses", `{"model":"chat","input":"hi","unknown_field":1}`)
	mustError(t, resp, out, 400)
	resp, out = call(t, srv, "POST", "/v1/responses", `{"model":"chat","input":"hi","previous_response_id":"resp_nope"}`)
	if e := mustError(t, resp, out, 404); e.Code == nil || *e.Code != "previous_response_not_found" || e.Param == nil || *e.Param != "previous_response_id" {
		t.Errorf("unknown previous_response_id: %s", out)
	}
	resp, out = call(t, srv, "POST", "/v1/responses", `{"model":"chat","input":"hi","tools":[{"type":"file_search","vector_store_ids":["vs_1"]}]}`)
	if e := mustError(t, resp, out, 400); e.Param == nil || *e.Param != "tools" {
		t.Errorf("file_search with the knowledge bases off: %s", out)
	}
	if len(p.bodies) != 0 {
		t.Errorf("%d bad requests reached the upstream", len(p.bodies))
	}
}

// Citations of the retrieved sources become file_citation annotations at
// their index; an answer that cites none cites each file at its end.
func TestResponsesCite(t *testing.T) {
	f := &retrieval{sources: []rag.Result{
		{FileID: "file-a", Filename: "a.md", Page: 2, Section: "Intro"},
		{FileID: "file-b", Filename: "b.pdf"},
		{FileID: "file-a", Filename: "a.md", Page: 3},
	}}
	got := f.cite("Ünïcode first [2], then 【1†a.md】 and [9].")
	want := []annotation{
		{Type: "file_citation", Index: 14, FileID: "file-b", Filename: "b.pdf"},
		{Type: "file_citation", Index: 24, FileID: "file-a", Filename: "a.md", Page: 2, Section: "Intro"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cited %+v, want %+v", got, want)
	}
	got = f.cite("No marks.")
	want = []annotation{
		{Type: "file_citation", Index: 9, FileID: "file-a", Filename: "a.md", Page: 2, Section: "Intro"},
		{Type: "file_citation", Index: 9, FileID: "file-b", Filename: "b.pdf"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("uncited %+v, want %+v", got, want)
	}
	if got := (&retrieval{}).cite("x [1]"); len(got) != 0 {
		t.Errorf("no sources: %+v", got)
	}
}

func FuzzDecodeResponses(f *testing.F) {
	for _, s := range []string{
		`{"model":"chat","input":"hi"}`,
		`{"model":"chat","input":[{"role":"user","content":[{"type":"input_text","text":"x"}]},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"}],"tools":[{"type":"function","name":"f"}],"tool_choice":"required"}`,
		`{"model":"chat","input":"x","tools":[{"type":"file_search","vector_store_ids":["vs"],"filters":{"type":"eq","key":"a","value":1}}]}`,
		`{"model":"chat","input":"x","text":{"format":{"type":"json_schema","name":"n","schema":{}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeResponses(body)
		if err != nil {
			return
		}
		if len(r.input) == 0 {
			return
		}
		// The chat request built from a valid Responses request is valid.
		if _, err := decodeChat(r.chatBody(r.input, "")); err != nil {
			t.Fatalf("%s: the chat body is refused: %v", body, err)
		}
	})
}
