package chaos_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/bulwark-ai/bulwark/api/openai"
	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/sim"
	"github.com/bulwark-ai/bulwark/reqlog"
	"github.com/bulwark-ai/bulwark/responses/responsestest"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/telemetry"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/tools"
)

// Tool governance (gateway/tools.go) end to end on the simulator's
// scripted replies ([sim:reply …]).

// toolGateway builds a gateway whose alias "t" has the tool policy tp and
// response format rf, served by a simulator, and the simulator.
func toolGateway(t *testing.T, tp config.ModelTools, rf config.ModelResponseFormat) (*gateway.Gateway, *counting) {
	t.Helper()
	s := sim.New("sim", 1, map[string]config.SimModel{"chat": {Kind: "chat", OutputTokens: config.Range{Min: 4, Max: 8}, ContextWindow: 8192}})
	c := &counting{Provider: s}
	models := []config.Model{{Name: "t", Targets: []config.Target{{Provider: "sim", Model: "chat"}}, Tools: tp, ResponseFormat: rf}}
	tbl, err := route.New(models, map[string]llm.Provider{"sim": c}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return gateway.New(tbl, gateway.Options{}), c
}

// counting is a provider that keeps the chat requests it got.
type counting struct {
	llm.Provider
	got []*llm.ChatRequest
}

func (c *counting) Chat(ctx context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	cp := *req
	c.got = append(c.got, &cp)
	return c.Provider.Chat(ctx, req)
}

func (c *counting) Stream(ctx context.Context, req *llm.ChatRequest) (llm.Stream, error) {
	cp := *req
	c.got = append(c.got, &cp)
	return c.Provider.Stream(ctx, req)
}

const weatherTool = `{"type":"function","function":{"name":"weather","parameters":{"type":"object",` +
	`"properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}}}`
const shellTool = `{"type":"function","function":{"name":"shell","parameters":{"type":"object"}}}`

// toolReq is a chat request for "t" whose user message is text (with the
// simulator's directives) declaring tools, with extra top-level fields.
func toolReq(text string, tools []string, extra string) *llm.ChatRequest {
	msg, _ := json.Marshal(text)
	body := `{"model":"t","messages":[{"role":"user","content":` + string(msg) + `}]`
	if len(tools) > 0 {
		body += `,"tools":[` + strings.Join(tools, ",") + `]`
	}
	body += extra + `}`
	return &llm.ChatRequest{Model: "t", Messages: []llm.Message{{Role: "user", Content: text}}, Body: json.RawMessage(body)}
}

func reply(calls ...string) string {
	return `[sim:reply {"tool_calls":[` + strings.Join(calls, ",") + `]}] `
}

func call(name, args string) string {
	q, _ := json.Marshal(args)
	return `{"name":"` + name + `","arguments":` + string(q) + `}`
}

func declaredTools(t *testing.T, body json.RawMessage) []string {
	t.Helper()
	var b struct {
		Tools []struct {
			Function struct{ Name string } `json:"function"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tl := range b.Tools {
		out = append(out, tl.Function.Name)
	}
	return out
}

func toolErr(t *testing.T, err error, status int, code string) *tools.Error {
	t.Helper()
	var te *tools.Error
	if !errors.As(err, &te) || te.Status != status || te.Code != code {
		t.Fatalf("err = %v, want %d %s", err, status, code)
	}
	return te
}

// A tool the alias does not allow is removed before the call; the
// model's answer that uses only allowed tools passes.
func TestToolsRemovedBeforeTheCall(t *testing.T) {
	g, up := toolGateway(t, config.ModelTools{Allow: []string{"weath*"}}, config.ModelResponseFormat{})
	req := toolReq(reply(call("weather", `{"city":"Oslo"}`)), []string{weatherTool, shellTool}, `,"tool_choice":"auto"`)
	resp, out, err := g.Chat(context.Background(), tenant.Principal{TenantID: "a"}, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := declaredTools(t, up.got[0].Body); len(got) != 1 || got[0] != "weather" {
		t.Errorf("upstream got tools %v", got)
	}
	if out.Tools == nil || len(out.Tools.Removed) != 1 || out.Tools.Removed[0] != "shell" || out.Tools.Calls != 1 {
		t.Errorf("report %+v", out.Tools)
	}
	if resp.FinishReasons[0] != "tool_calls" {
		t.Errorf("finish %v", resp.FinishReasons)
	}
}

// With refuse, the request is refused with no call made; the key's and
// tenant's lists narrow the alias's.
func TestToolsRefusedAndIntersected(t *testing.T) {
	g, up := toolGateway(t, config.ModelTools{OnDisallowed: config.ToolsRefuse, Allow: []string{"*"}}, config.ModelResponseFormat{})
	p := tenant.Principal{TenantID: "a", TenantTools: []string{"weather", "shell"}, KeyTools: []string{"weather"}}
	_, out, err := g.Chat(context.Background(), p, toolReq("hi", []string{weatherTool, shellTool}, ""))
	te := toolErr(t, err, 400, tools.CodeNotAllowed)
	if te.Tool != "shell" || te.Param != "tools" || len(up.got) != 0 || out.Tools.Refused != tools.CodeNotAllowed {
		t.Errorf("%+v, %d calls, report %+v", te, len(up.got), out.Tools)
	}
	if _, _, err := g.Chat(context.Background(), p, toolReq("hi", []string{weatherTool}, "")); err != nil {
		t.Errorf("allowed by all three: %v", err)
	}
	// A key's list governs an alias with no tools section.
	g2, up2 := toolGateway(t, config.ModelTools{}, config.ModelResponseFormat{})
	if _, _, err := g2.Chat(context.Background(), tenant.Principal{KeyTools: []string{"weather"}}, toolReq("hi", []string{weatherTool, shellTool}, "")); err != nil {
		t.Fatal(err)
	}
	if got := declaredTools(t, up2.got[0].Body); len(got) != 1 || got[0] != "weather" {
		t.Errorf("upstream got tools %v", got)
	}
	// Forcing a removed tool is refused even when removing.
	_, _, err = g2.Chat(context.Background(), tenant.Principal{KeyTools: []string{"weather"}},
		toolReq("hi", []string{weatherTool, shellTool}, `,"tool_choice":{"type":"function","function":{"name":"shell"}}`))
	toolErr(t, err, 400, tools.CodeNotAllowed)
}

// A call of a tool the request did not declare is re-asked, then a
// typed error; with on_invalid: error, at once.
func TestToolCallNotDeclared(t *testing.T) {
	g, up := toolGateway(t, config.ModelTools{OnInvalid: config.OnInvalidError}, config.ModelResponseFormat{})
	resp, out, err := g.Chat(context.Background(), tenant.Principal{}, toolReq(reply(call("shell", `{}`)), []string{weatherTool}, ""))
	toolErr(t, err, 502, tools.CodeCallNotAllowed)
	if len(up.got) != 1 || out.Tools.Reasked || !out.Tools.Failed || resp == nil || resp.Usage.CompletionTokens == 0 || resp.Body != nil {
		t.Errorf("%d calls, report %+v, resp %+v", len(up.got), out.Tools, resp)
	}
}

// Invalid arguments get one re-ask that shows the model its call and the
// error; a valid second answer is returned, billed for both.
func TestToolCallInvalidReaskedThenValid(t *testing.T) {
	g, up := toolGateway(t, config.ModelTools{ValidateArguments: true}, config.ModelResponseFormat{})
	text := reply(call("weather", `{"city":3}`)) + reply(call("weather", `{"city":"Oslo"}`))
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	resp, out, err := g.Chat(ctx, tenant.Principal{}, toolReq(text, []string{weatherTool}, ""))
	span.End()
	if err != nil {
		t.Fatal(err)
	}
	if len(up.got) != 2 || !out.Tools.Reasked || out.Tools.Failed || out.Tools.Violation != tools.CodeCallInvalid {
		t.Fatalf("%d calls, report %+v", len(up.got), out.Tools)
	}
	second := up.got[1]
	if n := len(second.Messages); n != 3 || second.Messages[1].Role != "assistant" || second.Messages[2].Role != "tool" ||
		!strings.Contains(second.Messages[2].Content, "/city") {
		t.Errorf("re-ask messages %+v", second.Messages)
	}
	if !strings.Contains(string(second.Body), `"tool_calls"`) || !strings.Contains(string(second.Body), `"tool_call_id":"call_0"`) {
		t.Errorf("re-ask body %s", second.Body)
	}
	a, _ := tools.Read(resp.Body)
	if len(a.Calls) != 1 || a.Calls[0].Arguments != `{"city":"Oslo"}` {
		t.Errorf("answer %s", resp.Body)
	}
	// Both calls are billed, and the answer's usage says so.
	var u struct {
		Usage struct {
			Prompt  int `json:"prompt_tokens"`
			Details struct {
				Cached *int `json:"cached_tokens"`
			} `json:"prompt_tokens_details"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(resp.Body, &u); err != nil || u.Usage.Prompt != resp.Usage.PromptTokens || u.Usage.Details.Cached == nil ||
		resp.Usage.PromptTokens <= 2*len(text)/4 {
		t.Errorf("usage %+v in %s; billed %+v", u, resp.Body, resp.Usage)
	}
	if len(out.Tried) != 2 {
		t.Errorf("attempts %+v", out.Tried)
	}
	// A span per tool call: the invalid one, then the valid one.
	var got []string
	for _, s := range exp.GetSpans() {
		if !strings.HasPrefix(s.Name, "execute_tool ") {
			continue
		}
		attrs := map[attribute.Key]attribute.Value{}
		for _, kv := range s.Attributes {
			attrs[kv.Key] = kv.Value
		}
		if attrs[telemetry.AttrToolName].AsString() != "weather" || attrs[telemetry.AttrToolCallID].AsString() != "call_0" ||
			s.Parent.SpanID() != span.SpanContext().SpanID() {
			t.Errorf("span %s %v", s.Name, s.Attributes)
		}
		got = append(got, attrs[telemetry.AttrToolOutcome].AsString())
	}
	if strings.Join(got, ",") != "invalid,ok" {
		t.Errorf("tool spans' outcomes %v", got)
	}
}

// Invalid twice is a typed error after exactly one re-ask.
func TestToolCallInvalidTwice(t *testing.T) {
	g, up := toolGateway(t, config.ModelTools{ValidateArguments: true}, config.ModelResponseFormat{})
	_, out, err := g.Chat(context.Background(), tenant.Principal{}, toolReq(reply(call("weather", `{"town":"Oslo"}`)), []string{weatherTool}, ""))
	te := toolErr(t, err, 502, tools.CodeCallInvalid)
	if !te.Reasked || len(up.got) != 2 || !out.Tools.Failed {
		t.Errorf("%+v, %d calls, report %+v", te, len(up.got), out.Tools)
	}
	// Arguments that are not JSON are invalid without validate_arguments.
	g, _ = toolGateway(t, config.ModelTools{OnInvalid: config.OnInvalidError}, config.ModelResponseFormat{})
	_, _, err = g.Chat(context.Background(), tenant.Principal{}, toolReq(reply(call("weather", `{"city":`)), []string{weatherTool}, ""))
	toolErr(t, err, 502, tools.CodeCallInvalid)
}

// More calls than max_calls break the policy.
func TestToolMaxCalls(t *testing.T) {
	g, _ := toolGateway(t, config.ModelTools{MaxCalls: 1, OnInvalid: config.OnInvalidError}, config.ModelResponseFormat{})
	two := reply(call("weather", `{"city":"Oslo"}`), call("weather", `{"city":"Rome"}`))
	_, _, err := g.Chat(context.Background(), tenant.Principal{}, toolReq(two, []string{weatherTool}, ""))
	toolErr(t, err, 502, tools.CodeTooManyCalls)
	if _, _, err := g.Chat(context.Background(), tenant.Principal{}, toolReq(reply(call("weather", `{"city":"Oslo"}`)), []string{weatherTool}, "")); err != nil {
		t.Errorf("one call: %v", err)
	}
}

const schemaFormat = `,"response_format":{"type":"json_schema","json_schema":{"name":"a","strict":true,"schema":` +
	`{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}}}`

// A structured output that does not match its schema is re-asked once.
func TestStructuredOutputReasked(t *testing.T) {
	g, up := toolGateway(t, config.ModelTools{}, config.ModelResponseFormat{Validate: true})
	text := `[sim:reply {"content":"{\"n\":\"two\"}"}] [sim:reply {"content":"{\"n\":2}"}]`
	resp, out, err := g.Chat(context.Background(), tenant.Principal{}, toolReq(text, nil, schemaFormat))
	if err != nil {
		t.Fatal(err)
	}
	if len(up.got) != 2 || !out.Tools.Reasked || out.Tools.Violation != tools.CodeFormatInvalid {
		t.Errorf("%d calls, report %+v", len(up.got), out.Tools)
	}
	if last := up.got[1].Messages[2]; last.Role != "user" || !strings.Contains(last.Content, "JSON schema") {
		t.Errorf("re-ask %+v", last)
	}
	if a, _ := tools.Read(resp.Body); a.Contents[0] != `{"n":2}` {
		t.Errorf("answer %s", resp.Body)
	}
	// Invalid twice: a typed error.
	_, _, err = g.Chat(context.Background(), tenant.Principal{}, toolReq(`[sim:reply {"content":"nope"}]`, nil, schemaFormat))
	toolErr(t, err, 502, tools.CodeFormatInvalid)
}

// Streams: an invalid call is never shown; the stream ends with the
// typed error. A valid call is released whole.
func TestToolStream(t *testing.T) {
	g, _ := toolGateway(t, config.ModelTools{ValidateArguments: true}, config.ModelResponseFormat{})
	read := func(text string) (string, error) {
		req := toolReq(text, []string{weatherTool}, "")
		req.Stream = true
		s, _, err := g.Stream(context.Background(), tenant.Principal{}, req, gateway.StreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var all strings.Builder
		for {
			ch, err := s.Recv()
			if err == io.EOF {
				return all.String(), nil
			}
			if err != nil {
				return all.String(), err
			}
			all.Write(ch.Data)
		}
	}
	got, err := read(reply(call("weather", `{"city":3}`)))
	toolErr(t, err, 502, tools.CodeCallInvalid)
	if strings.Contains(got, "tool_calls") {
		t.Errorf("the invalid call reached the client: %s", got)
	}
	got, err = read(reply(call("weather", `{"city":"Oslo"}`)))
	if err != nil || !strings.Contains(got, `"name":"weather"`) || !strings.Contains(got, `"finish_reason":"tool_calls"`) {
		t.Errorf("%v: %s", err, got)
	}
	// A streamed structured output that does not match ends in an error.
	g, _ = toolGateway(t, config.ModelTools{}, config.ModelResponseFormat{Validate: true})
	req := toolReq(`[sim:reply {"content":"{\"n\":\"x\"}"}]`, nil, schemaFormat)
	s, _, err := g.Stream(context.Background(), tenant.Principal{}, req, gateway.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for {
		ch, err := s.Recv()
		if err != nil {
			toolErr(t, err, 502, tools.CodeFormatInvalid)
			break
		}
		if ch.FinishReason != "" {
			t.Fatalf("finish released: %s", ch.Data)
		}
	}
}

// logged collects request log records.
type logged struct {
	mu   sync.Mutex
	recs []reqlog.Record
}

func (l *logged) Add(r reqlog.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
}

func (l *logged) all() []reqlog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]reqlog.Record(nil), l.recs...)
}

// The request log records what governance did: tools removed, the
// violation, the re-ask, the failure; never arguments.
func TestToolsInRequestLog(t *testing.T) {
	g, _ := toolGateway(t, config.ModelTools{Allow: []string{"weather"}, ValidateArguments: true}, config.ModelResponseFormat{})
	l := &logged{}
	g.SetRequestLog(l, 0)
	text := reply(call("weather", `{"city":"Secret St 1"}`), call("weather", `{"city":7}`))
	if _, _, err := g.Chat(context.Background(), tenant.Principal{}, toolReq(text, []string{weatherTool, shellTool}, "")); err == nil {
		t.Fatal("invalid twice passed")
	}
	recs := l.all()
	if len(recs) != 1 || recs[0].Tools == nil {
		t.Fatalf("records %+v", recs)
	}
	got := recs[0].Tools
	if strings.Join(got.Removed, ",") != "shell" || got.Invalid != tools.CodeCallInvalid || !got.Reasked || !got.Failed || got.Calls != 2 {
		t.Errorf("tools %+v", got)
	}
	if b, _ := json.Marshal(recs[0]); strings.Contains(string(b), "Secret") {
		t.Errorf("arguments in the record: %s", b)
	}
}

// Every call counts in bulwark_tool_calls_total by outcome, removals in
// bulwark_tools_governed_total, the re-ask in bulwark_tool_reasks_total.
func TestToolMetrics(t *testing.T) {
	s := sim.New("sim", 1, map[string]config.SimModel{"chat": {Kind: "chat", ContextWindow: 8192}})
	models := []config.Model{{Name: "t", Targets: []config.Target{{Provider: "sim", Model: "chat"}},
		Tools: config.ModelTools{Allow: []string{"weather"}, ValidateArguments: true}}}
	tbl, err := route.New(models, map[string]llm.Provider{"sim": s}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := telemetry.NewMetrics(telemetry.MetricsOptions{KnownAlias: func(a string) bool { return a == "t" }, NoProcessMetrics: true})
	g := gateway.New(tbl, gateway.Options{Metrics: m})
	text := reply(call("weather", `{"city":7}`)) + reply(call("weather", `{"city":"Oslo"}`))
	if _, _, err := g.Chat(context.Background(), tenant.Principal{}, toolReq(text, []string{weatherTool, shellTool}, "")); err != nil {
		t.Fatal(err)
	}
	for metric, want := range map[string]float64{
		`bulwark_tool_calls_total{alias="t",outcome="invalid",tool="weather"}`:              1,
		`bulwark_tool_calls_total{alias="t",outcome="ok",tool="weather"}`:                   1,
		`bulwark_tools_governed_total{action="removed",alias="t",tool="shell"}`:             1,
		`bulwark_tool_reasks_total{alias="t",reason="tool_call_invalid",result="reasked"}`:  1,
		`bulwark_tool_reasks_total{alias="t",reason="tool_call_invalid",result="reask_ok"}`: 1,
	} {
		if got := metricValue(t, m, metric); got != want {
			t.Errorf("%s = %v, want %v", metric, got, want)
		}
	}
}

// metricValue reads one counter series, written as Prometheus prints it.
func metricValue(t *testing.T, m *telemetry.Metrics, series string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	name, _, _ := strings.Cut(series, "{")
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.GetMetric() {
			var ls []string
			for _, l := range mt.GetLabel() {
				ls = append(ls, l.GetName()+`="`+l.GetValue()+`"`)
			}
			if name+"{"+strings.Join(ls, ",")+"}" == series {
				return mt.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// Through the OpenAI API: a refused request is a 400 in OpenAI's error
// format with a typed code; a streamed call the policy rejects ends the
// stream with an error event and no [DONE], its call never shown.
func TestToolsThroughTheAPI(t *testing.T) {
	g, _ := toolGateway(t, config.ModelTools{OnDisallowed: config.ToolsRefuse, ValidateArguments: true}, config.ModelResponseFormat{})
	h := openai.New(g, 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
	post := func(body string, p tenant.Principal) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
		w := httptest.NewRecorder()
		h.Routes()["POST /v1/chat/completions"](w, r, p)
		return w
	}
	w := post(`{"model":"t","messages":[{"role":"user","content":"hi"}],"tools":[`+weatherTool+`,`+shellTool+`]}`,
		tenant.Principal{KeyTools: []string{"weather"}})
	var e struct {
		Error struct{ Message, Type, Code, Param string } `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != 400 || e.Error.Code != "tool_not_allowed" ||
		e.Error.Type != "invalid_request_error" || e.Error.Param != "tools" || !strings.Contains(e.Error.Message, `"shell"`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}

	msg, _ := json.Marshal(reply(call("weather", `{"city":false}`)))
	w = post(`{"model":"t","stream":true,"messages":[{"role":"user","content":`+string(msg)+`}],"tools":[`+weatherTool+`]}`, tenant.Principal{})
	body := w.Body.String()
	if w.Code != 200 || strings.Contains(body, "[DONE]") || strings.Contains(body, `"tool_calls"`) ||
		!strings.Contains(body, `"code":"tool_call_invalid"`) {
		t.Errorf("%d %s", w.Code, body)
	}
}

// The Responses API's function tools become the chat request's tools, so
// the same policy holds: a removed tool never reaches the model, and the
// model's call of it is re-asked.
func TestToolsOnTheResponsesAPI(t *testing.T) {
	g, up := toolGateway(t, config.ModelTools{}, config.ModelResponseFormat{})
	h := openai.New(g, 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
	route := openai.NewResponses(h, &responsestest.Memory{}, nil, 0).Routes()["POST /v1/responses"]
	input, _ := json.Marshal(reply(call("shell", `{}`)) + reply(call("weather", `{"city":"Oslo"}`)))
	body := `{"model":"t","store":false,"input":` + string(input) + `,"tools":[` +
		`{"type":"function","name":"weather","parameters":{"type":"object"}},{"type":"function","name":"shell","parameters":{"type":"object"}}]}`
	r := httptest.NewRequest("POST", "/v1/responses", strings.NewReader(body))
	w := httptest.NewRecorder()
	route(w, r, tenant.Principal{KeyTools: []string{"weather"}})
	var resp struct {
		Output []struct{ Type, Name string } `json:"output"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || w.Code != 200 || len(resp.Output) != 1 ||
		resp.Output[0].Type != "function_call" || resp.Output[0].Name != "weather" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if len(up.got) != 2 || strings.Join(declaredTools(t, up.got[0].Body), ",") != "weather" {
		t.Errorf("%d upstream calls; first body %s", len(up.got), up.got[0].Body)
	}
}
