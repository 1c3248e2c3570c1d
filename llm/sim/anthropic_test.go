package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/config"
)

// anthEvent is one event of a Messages stream.
type anthEvent struct {
	name string
	data string
}

// postMessages posts body to /v1/messages with Anthropic's headers.
func postMessages(t *testing.T, srv *httptest.Server, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/messages", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", "sk-ant-test")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST /v1/messages: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// parseEvents splits an event stream into its events.
func parseEvents(body []byte) []anthEvent {
	var out []anthEvent
	var cur anthEvent
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.name != "" || cur.data != "" {
				out = append(out, cur)
			}
			cur = anthEvent{}
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		}
	}
	if cur.name != "" || cur.data != "" {
		out = append(out, cur)
	}
	return out
}

// anthMessageBody is the part of a Message the tests read.
type anthMessageBody struct {
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

// anthErr is Anthropic's error body.
type anthErr struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func wantAnthropicError(t *testing.T, resp *http.Response, body []byte, status int, typ string) string {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	var e anthErr
	if err := json.Unmarshal(body, &e); err != nil || e.Type != "error" || e.Error.Message == "" {
		t.Fatalf("not Anthropic's error body: %v: %s", err, body)
	}
	if e.Error.Type != typ {
		t.Errorf("error type %q, want %q: %s", e.Error.Type, typ, body)
	}
	return e.Error.Message
}

func newAnthropicServer(t *testing.T, chat func(*config.SimModel)) (*Sim, *httptest.Server) {
	s := newTestSim(t, chat)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv
}

const anthHello = `{"model":"chat","max_tokens":64,"system":"Be brief.","messages":[{"role":"user","content":"Say hello."}]}`

// streamText joins the text deltas of a Messages stream.
func streamText(t *testing.T, events []anthEvent) string {
	t.Helper()
	var b strings.Builder
	for _, ev := range events {
		if ev.name != "content_block_delta" {
			continue
		}
		var d struct {
			Delta struct {
				Type        string `json:"type"`
				Text        string `json:"text"`
				PartialJSON string `json:"partial_json"`
			} `json:"delta"`
		}
		if err := json.Unmarshal([]byte(ev.data), &d); err != nil {
			t.Fatalf("event %s: %v: %s", ev.name, err, ev.data)
		}
		b.WriteString(d.Delta.Text + d.Delta.PartialJSON)
	}
	return b.String()
}

func TestAnthropicMessage(t *testing.T) {
	_, srv := newAnthropicServer(t, nil)
	resp, body := postMessages(t, srv, anthHello)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var m anthMessageBody
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if m.Type != "message" || m.Role != "assistant" || m.Model != "chat" || !strings.HasPrefix(m.ID, "msg_") {
		t.Errorf("message head: %s", body)
	}
	if len(m.Content) != 1 || m.Content[0].Type != "text" || m.Content[0].Text == "" {
		t.Fatalf("content: %s", body)
	}
	if m.StopReason != "end_turn" {
		t.Errorf("stop_reason %q", m.StopReason)
	}
	if m.Usage["input_tokens"] <= 0 || m.Usage["output_tokens"] <= 0 || m.Usage["cache_read_input_tokens"] != 0 {
		t.Errorf("usage %v", m.Usage)
	}

	// The same answer as the chat completions endpoint, and as the stream.
	oaiResp, oaiBody := post(t, srv.Client(), srv.URL+"/v1/chat/completions",
		`{"model":"chat","max_tokens":64,"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Say hello."}]}`)
	if oaiResp.StatusCode != 200 {
		t.Fatalf("chat completions: %s", oaiBody)
	}
	if c := parseCompletion(t, oaiBody); c.Choices[0].Message.Content != m.Content[0].Text {
		t.Errorf("the Messages API answers %q, chat completions %q", m.Content[0].Text, c.Choices[0].Message.Content)
	}
	_, sbody := postMessages(t, srv, strings.Replace(anthHello, `"max_tokens":64`, `"max_tokens":64,"stream":true`, 1))
	if got := streamText(t, parseEvents(sbody)); got != m.Content[0].Text {
		t.Errorf("streamed %q, answered %q", got, m.Content[0].Text)
	}
}

func TestAnthropicMaxTokens(t *testing.T) {
	_, srv := newAnthropicServer(t, nil)
	_, body := postMessages(t, srv, strings.Replace(anthHello, `"max_tokens":64`, `"max_tokens":3`, 1))
	var m anthMessageBody
	json.Unmarshal(body, &m)
	if m.StopReason != "max_tokens" || m.Usage["output_tokens"] != 3 {
		t.Errorf("stop_reason %q, usage %v", m.StopReason, m.Usage)
	}
}

func TestAnthropicStreamEvents(t *testing.T) {
	_, srv := newAnthropicServer(t, nil)
	resp, body := postMessages(t, srv, strings.Replace(anthHello, `"max_tokens":64`, `"max_tokens":64,"stream":true`, 1))
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q", ct)
	}
	events := parseEvents(body)
	var names []string
	for _, ev := range events {
		var typ struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal([]byte(ev.data), &typ); err != nil || typ.Type != ev.name {
			t.Errorf("event %s: data type %q (%v): %s", ev.name, typ.Type, err, ev.data)
		}
		if len(names) == 0 || names[len(names)-1] != ev.name {
			names = append(names, ev.name)
		}
	}
	want := "message_start content_block_start ping content_block_delta content_block_stop message_delta message_stop"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("events %s\nwant   %s", got, want)
	}
	var delta struct {
		Delta struct {
			StopReason string `json:"stop_reason"`
		} `json:"delta"`
		Usage struct {
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	}
	json.Unmarshal([]byte(events[len(events)-2].data), &delta)
	deltas := 0
	for _, ev := range events {
		if ev.name == "content_block_delta" {
			deltas++
		}
	}
	if delta.Delta.StopReason != "end_turn" || delta.Usage.OutputTokens != deltas {
		t.Errorf("message_delta %s; %d deltas", events[len(events)-2].data, deltas)
	}
}

const anthTools = `"tools":[{"name":"lookup","description":"Look it up.","input_schema":{"type":"object","properties":{"text":{"type":"string"}}}},{"name":"other","input_schema":{"type":"object"}}]`

func TestAnthropicToolUse(t *testing.T) {
	_, srv := newAnthropicServer(t, nil)
	for _, tc := range []struct{ choice, name string }{{`{"type":"any"}`, "lookup"}, {`{"type":"tool","name":"other"}`, "other"}} {
		req := `{"model":"chat","max_tokens":64,` + anthTools + `,"tool_choice":` + tc.choice + `,"messages":[{"role":"user","content":"Look up the weather."}]}`
		resp, body := postMessages(t, srv, req)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", tc.choice, body)
		}
		var m anthMessageBody
		json.Unmarshal(body, &m)
		if len(m.Content) != 1 || m.Content[0].Type != "tool_use" || m.Content[0].Name != tc.name ||
			!strings.HasPrefix(m.Content[0].ID, "toolu_") || m.StopReason != "tool_use" {
			t.Fatalf("%s: %s", tc.choice, body)
		}
		var input struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(m.Content[0].Input, &input); err != nil || input.Text == "" {
			t.Errorf("input %s: %v", m.Content[0].Input, err)
		}

		_, sbody := postMessages(t, srv, strings.Replace(req, `"max_tokens":64`, `"max_tokens":64,"stream":true`, 1))
		events := parseEvents(sbody)
		if got := streamText(t, events); got != string(m.Content[0].Input) {
			t.Errorf("streamed input %s, answered %s", got, m.Content[0].Input)
		}
		if !strings.Contains(string(sbody), `","name":"`+tc.name+`","input":{}}}`) ||
			!strings.Contains(string(sbody), `"stop_reason":"tool_use"`) {
			t.Errorf("stream: %s", sbody)
		}
	}

	// tool_choice auto answers text; a tool result continues the conversation.
	req := `{"model":"chat","max_tokens":64,` + anthTools + `,"tool_choice":{"type":"auto"},"messages":[` +
		`{"role":"user","content":[{"type":"text","text":"Weather?"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]},` +
		`{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"lookup","input":{"text":"weather"}}]},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"Sunny."}]}]}]}`
	resp, body := postMessages(t, srv, req)
	var m anthMessageBody
	json.Unmarshal(body, &m)
	if resp.StatusCode != 200 || m.Content[0].Type != "text" || m.StopReason != "end_turn" {
		t.Errorf("auto: %d %s", resp.StatusCode, body)
	}
}

func TestAnthropicPrefill(t *testing.T) {
	_, srv := newAnthropicServer(t, nil)
	_, body := postMessages(t, srv, anthHello)
	var m anthMessageBody
	json.Unmarshal(body, &m)
	full := m.Content[0].Text
	words := strings.Fields(full)
	if len(words) < 4 {
		t.Fatalf("answer too short: %q", full)
	}
	prefill := strings.Join(words[:3], " ")
	for _, stream := range []bool{false, true} {
		req := `{"model":"chat","max_tokens":64,"stream":` + map[bool]string{false: "false", true: "true"}[stream] +
			`,"system":"Be brief.","messages":[{"role":"user","content":"Say hello."},{"role":"assistant","content":"` + prefill + `"}]}`
		_, body := postMessages(t, srv, req)
		var rest string
		if stream {
			rest = streamText(t, parseEvents(body))
		} else {
			var m anthMessageBody
			json.Unmarshal(body, &m)
			rest = m.Content[0].Text
		}
		if prefill+rest != full {
			t.Errorf("stream=%v: prefill %q + %q, want %q", stream, prefill, rest, full)
		}
	}
}

func TestAnthropicRequestErrors(t *testing.T) {
	_, srv := newAnthropicServer(t, func(m *config.SimModel) { m.ContextWindow = 64 })
	for _, tc := range []struct {
		name, body string
		status     int
		typ, msg   string
	}{
		{"unknown model", `{"model":"nope","max_tokens":8,"messages":[{"role":"user","content":"Hi"}]}`, 404, "not_found_error", "model: nope"},
		{"no max_tokens", `{"model":"chat","messages":[{"role":"user","content":"Hi"}]}`, 400, "invalid_request_error", "max_tokens: Field required"},
		{"openai field", `{"model":"chat","max_tokens":8,"n":1,"messages":[{"role":"user","content":"Hi"}]}`, 400, "invalid_request_error", "Extra inputs are not permitted"},
		{"no messages", `{"model":"chat","max_tokens":8,"messages":[]}`, 400, "invalid_request_error", "at least one message"},
		{"bad role", `{"model":"chat","max_tokens":8,"messages":[{"role":"system","content":"Hi"}]}`, 400, "invalid_request_error", "role"},
		{"orphan tool_result", `{"model":"chat","max_tokens":8,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"x"}]}]}`, 400, "invalid_request_error", "tool_use_id"},
		{"tool choice without tool", `{"model":"chat","max_tokens":8,` + anthTools + `,"tool_choice":{"type":"tool","name":"nope"},"messages":[{"role":"user","content":"Hi"}]}`, 400, "invalid_request_error", "not found"},
		{"bad image", `{"model":"chat","max_tokens":8,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/tiff","data":"AA=="}}]}]}`, 400, "invalid_request_error", "media_type"},
		{"prompt too long", `{"model":"chat","max_tokens":8,"messages":[{"role":"user","content":"` + strings.Repeat("too long ", 100) + `"}]}`, 400, "invalid_request_error", "prompt is too long: "},
		{"max_tokens too many", `{"model":"chat","max_tokens":60,"messages":[{"role":"user","content":"Hi"}]}`, 400, "invalid_request_error", "exceed context limit"},
		{"trailing whitespace", `{"model":"chat","max_tokens":8,"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello "}]}`, 400, "invalid_request_error", "trailing whitespace"},
	} {
		resp, body := postMessages(t, srv, tc.body)
		if msg := wantAnthropicError(t, resp, body, tc.status, tc.typ); !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: message %q, want it to contain %q", tc.name, msg, tc.msg)
		}
	}

	// anthropic-version is required.
	resp, err := srv.Client().Post(srv.URL+"/v1/messages", "application/json", strings.NewReader(anthHello))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantAnthropicError(t, resp, body, 400, "invalid_request_error")
}

func TestAnthropicFaultStatuses(t *testing.T) {
	s, srv := newAnthropicServer(t, nil)
	for _, tc := range []struct {
		status int
		typ    string
	}{{429, "rate_limit_error"}, {500, "api_error"}, {529, "overloaded_error"}, {503, "overloaded_error"}, {401, "authentication_error"}} {
		if err := s.SetFaults(chatModel, config.Faults{ErrorRates: map[int]float64{tc.status: 1}, RetryAfter: config.Duration(2 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		resp, body := postMessages(t, srv, anthHello)
		wantAnthropicError(t, resp, body, tc.status, tc.typ)
		if tc.status == 429 && resp.Header.Get("Retry-After") != "2" {
			t.Errorf("429 Retry-After %q", resp.Header.Get("Retry-After"))
		}
	}
	s.SetFaults(chatModel, config.Faults{ContentFilter: config.Fault{Rate: 1}})
	resp, body := postMessages(t, srv, anthHello)
	if msg := wantAnthropicError(t, resp, body, 400, "invalid_request_error"); !strings.Contains(msg, "content filtering policy") {
		t.Errorf("content filter: %q", msg)
	}
}

func TestAnthropicOverCapacity(t *testing.T) {
	s, srv := newAnthropicServer(t, func(m *config.SimModel) { m.MaxConcurrency = 1 })
	// A hung request holds the only slot until its client goes away; the
	// requests after it are over capacity.
	s.SetFaults(chatModel, config.Faults{Hang: config.Fault{Rate: 1}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil { // again, should a probe have taken the slot first
			if resp, err := anthropicDo(ctx, srv, anthHello); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	defer func() { cancel(); <-done }()
	for range 50 {
		pctx, pcancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		resp, err := anthropicDo(pctx, srv, anthHello)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 529 {
				pcancel()
				wantAnthropicError(t, resp, body, 529, "overloaded_error")
				return
			}
		}
		pcancel() // this probe took the slot first
	}
	t.Fatal("no request was over capacity")
}

// anthropicDo posts body to /v1/messages with Anthropic's headers.
func anthropicDo(ctx context.Context, srv *httptest.Server, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/messages", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	return srv.Client().Do(req)
}

func TestAnthropicStreamFaults(t *testing.T) {
	s, srv := newAnthropicServer(t, nil)
	stream := strings.Replace(anthHello, `"max_tokens":64`, `"max_tokens":64,"stream":true`, 1)

	s.SetFaults(chatModel, config.Faults{ErrorEvent: config.Fault{Rate: 1, AfterTokens: 2}})
	_, body := postMessages(t, srv, stream)
	events := parseEvents(body)
	last := events[len(events)-1]
	if last.name != "error" || !strings.Contains(last.data, `"type":"overloaded_error"`) {
		t.Errorf("error_event: last event %s %s", last.name, last.data)
	}
	if got := streamText(t, events); len(strings.Fields(got)) != 2 {
		t.Errorf("error_event after 2 tokens: text %q", got)
	}

	s.SetFaults(chatModel, config.Faults{NoDone: config.Fault{Rate: 1}})
	_, body = postMessages(t, srv, stream)
	events = parseEvents(body)
	if last := events[len(events)-1]; last.name != "message_delta" {
		t.Errorf("no_done: last event %s", last.name)
	}

	s.SetFaults(chatModel, config.Faults{Malformed: config.Fault{Rate: 1, AfterTokens: 1}})
	_, body = postMessages(t, srv, stream)
	bad := 0
	for _, ev := range parseEvents(body) {
		if !json.Valid([]byte(ev.data)) {
			bad++
		}
	}
	if bad != 1 || !strings.HasSuffix(string(body), "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n") {
		t.Errorf("malformed: %d bad events: %s", bad, body)
	}

	s.SetFaults(chatModel, config.Faults{Cut: config.Fault{Rate: 1, AfterTokens: 2}})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/messages", strings.NewReader(stream))
	req.Header.Set("Anthropic-Version", "2023-06-01")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Error("cut: the body ended cleanly")
	}
}

// TestAnthropicTokenShape guards the cut streamAnthropic makes in the
// streamer's token chunks.
func TestAnthropicTokenShape(t *testing.T) {
	s := newTestSim(t, nil)
	c, e := s.chatCall(chatReq("Say hello."))
	if e != nil {
		t.Fatal(e)
	}
	st := newStreamer(c, false)
	var text strings.Builder
	role := true
	for {
		b, step := st.next(nil)
		if step.ev == evEnd {
			break
		}
		if step.ev != evChunk || step.finish != "" || role {
			role = false
			continue
		}
		tok, err := anthTokenText(st.head, b)
		if err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		text.Write(tok)
	}
	if text.Len() == 0 {
		t.Error("no token text")
	}
}
