package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

// bedrockModel is a model id in Bedrock's form: ':' and '.' in the path.
const bedrockModel = "anthropic.claude-sim-v1:0"

func newBedrockServer(t *testing.T, chat func(*config.SimModel)) (*Sim, *httptest.Server) {
	t.Helper()
	c := config.SimModel{OutputTokens: config.Range{Min: 8, Max: 16}, ContextWindow: 4096}
	if chat != nil {
		chat(&c)
	}
	s := New("testsim", 42, map[string]config.SimModel{
		bedrockModel: c,
		embedModel:   {Kind: "embedding", Dimensions: 64, ContextWindow: 512},
	})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv
}

// bedrockURL is the URL of an operation on model, the model id
// path-escaped as the SDK sends it.
func bedrockURL(srv *httptest.Server, model, op string) string {
	return srv.URL + "/model/" + url.PathEscape(model) + "/" + op
}

// signedPost posts body with a SigV4-looking Authorization header, which
// the simulator accepts without checking.
func signedPost(t *testing.T, u, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	req.Header.Set("X-Amz-Date", "20260101T000000Z")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body) // a cut body is read as far as it goes
	return resp, b
}

type converseAnswer struct {
	Output struct {
		Message struct {
			Role    string `json:"role"`
			Content []struct {
				Text    *string `json:"text"`
				ToolUse *struct {
					ToolUseID string          `json:"toolUseId"`
					Name      string          `json:"name"`
					Input     json.RawMessage `json:"input"`
				} `json:"toolUse"`
			} `json:"content"`
		} `json:"message"`
	} `json:"output"`
	StopReason string `json:"stopReason"`
	Usage      struct {
		InputTokens, OutputTokens, TotalTokens int
	} `json:"usage"`
}

const conversePrompt = `{"system":[{"text":"Be brief."}],"messages":[{"role":"user","content":[{"text":"Say hello."}]}],"inferenceConfig":{"maxTokens":%d}}`

func converse(t *testing.T, srv *httptest.Server, body string) converseAnswer {
	t.Helper()
	resp, b := signedPost(t, bedrockURL(srv, bedrockModel, "converse"), body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var a converseAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, b)
	}
	return a
}

// TestBedrockConverseMatchesOpenAI checks that a model answers Converse
// with the words it answers the same prompt with over OpenAI's API.
func TestBedrockConverseMatchesOpenAI(t *testing.T) {
	_, srv := newBedrockServer(t, nil)
	a := converse(t, srv, strings.Replace(conversePrompt, "%d", "100", 1))
	if a.Output.Message.Role != "assistant" || len(a.Output.Message.Content) != 1 || a.Output.Message.Content[0].Text == nil {
		t.Fatalf("answer %+v: want one text block of the assistant", a)
	}
	if a.StopReason != "end_turn" {
		t.Errorf("stopReason %q, want end_turn", a.StopReason)
	}
	resp, b := post(t, http.DefaultClient, srv.URL+"/v1/chat/completions",
		`{"model":"`+bedrockModel+`","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Say hello."}],"max_tokens":100}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("OpenAI endpoint: status %d: %s", resp.StatusCode, b)
	}
	c := parseCompletion(t, b)
	if got, want := *a.Output.Message.Content[0].Text, c.Choices[0].Message.Content; got != want {
		t.Errorf("Converse text %q, OpenAI endpoint %q", got, want)
	}
	if u := c.Usage; a.Usage.InputTokens != u.PromptTokens || a.Usage.OutputTokens != u.CompletionTokens || a.Usage.TotalTokens != u.TotalTokens {
		t.Errorf("Converse usage %+v, OpenAI endpoint %+v", a.Usage, *u)
	}

	short := converse(t, srv, strings.Replace(conversePrompt, "%d", "3", 1))
	if short.StopReason != "max_tokens" || short.Usage.OutputTokens != 3 {
		t.Errorf("maxTokens 3: stopReason %q, %d output tokens; want max_tokens, 3", short.StopReason, short.Usage.OutputTokens)
	}
}

// bedrockEvent is one decoded event-stream message.
type bedrockEvent struct {
	kind    string // :message-type
	typ     string // :event-type or :exception-type
	payload []byte
}

// readEvents decodes an event stream with the SDK's decoder, returning the
// messages read and the error that ended it (nil at a clean end).
func readEvents(b []byte) ([]bedrockEvent, error) {
	dec := eventstream.NewDecoder()
	r := bytes.NewReader(b)
	var out []bedrockEvent
	for r.Len() > 0 {
		msg, err := dec.Decode(r, nil)
		if err != nil {
			return out, err
		}
		ev := bedrockEvent{payload: msg.Payload}
		if v := msg.Headers.Get(":message-type"); v != nil {
			ev.kind = v.String()
		}
		if v := msg.Headers.Get(":event-type"); v != nil {
			ev.typ = v.String()
		}
		if v := msg.Headers.Get(":exception-type"); v != nil {
			ev.typ = v.String()
		}
		if ct := msg.Headers.Get(":content-type"); ct == nil || ct.String() != "application/json" {
			return out, errors.New("an event without :content-type application/json")
		}
		out = append(out, ev)
	}
	return out, nil
}

func converseStream(t *testing.T, srv *httptest.Server, body string) ([]bedrockEvent, error) {
	t.Helper()
	resp, b := signedPost(t, bedrockURL(srv, bedrockModel, "converse-stream"), body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.amazon.eventstream" {
		t.Errorf("Content-Type %q", ct)
	}
	return readEvents(b)
}

func TestBedrockConverseStream(t *testing.T) {
	_, srv := newBedrockServer(t, nil)
	body := strings.Replace(conversePrompt, "%d", "100", 1)
	plain := converse(t, srv, body)
	events, err := converseStream(t, srv, body)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	var types []string
	var text strings.Builder
	for _, ev := range events {
		if ev.kind != "event" {
			t.Fatalf("message type %q", ev.kind)
		}
		if len(types) == 0 || types[len(types)-1] != ev.typ {
			types = append(types, ev.typ)
		}
		if ev.typ == "contentBlockDelta" {
			var d struct {
				Delta struct{ Text string } `json:"delta"`
			}
			if err := json.Unmarshal(ev.payload, &d); err != nil {
				t.Fatalf("delta %s: %v", ev.payload, err)
			}
			text.WriteString(d.Delta.Text)
		}
	}
	want := []string{"messageStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"}
	if strings.Join(types, ",") != strings.Join(want, ",") {
		t.Errorf("events %v, want %v", types, want)
	}
	if got := text.String(); got != *plain.Output.Message.Content[0].Text {
		t.Errorf("streamed text %q, Converse answered %q", got, *plain.Output.Message.Content[0].Text)
	}
	var meta struct {
		Usage struct{ InputTokens, OutputTokens int } `json:"usage"`
	}
	json.Unmarshal(events[len(events)-1].payload, &meta)
	if meta.Usage.InputTokens != plain.Usage.InputTokens || meta.Usage.OutputTokens != plain.Usage.OutputTokens {
		t.Errorf("metadata usage %+v, Converse %+v", meta.Usage, plain.Usage)
	}
}

const toolPrompt = `{"messages":[{"role":"user","content":[{"text":"Weather in Paris?"}]}],
"toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}}}}}}],
"toolChoice":%s}}`

func TestBedrockToolUse(t *testing.T) {
	_, srv := newBedrockServer(t, nil)
	for _, choice := range []string{`{"any":{}}`, `{"tool":{"name":"get_weather"}}`} {
		body := strings.Replace(toolPrompt, "%s", choice, 1)
		a := converse(t, srv, body)
		if a.StopReason != "tool_use" || len(a.Output.Message.Content) != 1 || a.Output.Message.Content[0].ToolUse == nil {
			t.Fatalf("%s: answer %+v, want one toolUse block and tool_use", choice, a)
		}
		tu := a.Output.Message.Content[0].ToolUse
		var input struct {
			City string `json:"city"`
			Days *int   `json:"days"`
		}
		if err := json.Unmarshal(tu.Input, &input); err != nil || tu.Name != "get_weather" || input.City == "" || input.Days == nil || tu.ToolUseID == "" {
			t.Errorf("%s: toolUse %s %s %s (%v)", choice, tu.ToolUseID, tu.Name, tu.Input, err)
		}

		events, err := converseStream(t, srv, body)
		if err != nil {
			t.Fatal(err)
		}
		var args strings.Builder
		started := false
		for _, ev := range events {
			switch ev.typ {
			case "contentBlockStart":
				started = bytes.Contains(ev.payload, []byte(`"name":"get_weather"`))
			case "contentBlockDelta":
				var d struct {
					Delta struct {
						ToolUse struct{ Input string } `json:"toolUse"`
					} `json:"delta"`
				}
				json.Unmarshal(ev.payload, &d)
				args.WriteString(d.Delta.ToolUse.Input)
			case "messageStop":
				if !bytes.Contains(ev.payload, []byte(`"tool_use"`)) {
					t.Errorf("messageStop %s", ev.payload)
				}
			}
		}
		if !started || args.String() != string(tu.Input) {
			t.Errorf("%s: stream started %v, input %q; Converse input %s", choice, started, args.String(), tu.Input)
		}
	}
	// auto: a text answer.
	if a := converse(t, srv, strings.Replace(toolPrompt, "%s", `{"auto":{}}`, 1)); a.StopReason != "end_turn" {
		t.Errorf("auto: stopReason %q", a.StopReason)
	}
	resp, b := signedPost(t, bedrockURL(srv, bedrockModel, "converse"), strings.Replace(toolPrompt, "%s", `{"tool":{"name":"nope"}}`, 1))
	wantBedrockError(t, resp, b, 400, "ValidationException")
}

// wantBedrockError checks an error in Bedrock's restjson form.
func wantBedrockError(t *testing.T, resp *http.Response, body []byte, status int, typ string) string {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	if got := resp.Header.Get("X-Amzn-ErrorType"); got != typ {
		t.Errorf("X-Amzn-ErrorType %q, want %q", got, typ)
	}
	var e struct {
		Message *string `json:"message"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Message == nil || *e.Message == "" {
		t.Errorf("body %s is not {\"message\": …} (%v)", body, err)
		return ""
	}
	return *e.Message
}

func TestBedrockErrors(t *testing.T) {
	s, srv := newBedrockServer(t, func(m *config.SimModel) { m.ContextWindow = 64 })
	body := strings.Replace(conversePrompt, "%d", "8", 1)
	cases := []struct {
		faults config.Faults
		status int
		typ    string
	}{
		{config.Faults{ErrorRates: map[int]float64{429: 1}, RetryAfter: config.Duration(2 * time.Second)}, 429, "ThrottlingException"},
		{config.Faults{ErrorRates: map[int]float64{503: 1}}, 503, "ServiceUnavailableException"},
		{config.Faults{ErrorRates: map[int]float64{500: 1}}, 500, "InternalServerException"},
		{config.Faults{ErrorRates: map[int]float64{408: 1}}, 408, "ModelTimeoutException"},
		{config.Faults{ErrorRates: map[int]float64{403: 1}}, 403, "AccessDeniedException"},
	}
	for _, c := range cases {
		if err := s.SetFaults(bedrockModel, c.faults); err != nil {
			t.Fatal(err)
		}
		for _, op := range []string{"converse", "converse-stream"} {
			resp, b := signedPost(t, bedrockURL(srv, bedrockModel, op), body)
			wantBedrockError(t, resp, b, c.status, c.typ)
			if c.status == 429 && resp.Header.Get("Retry-After") != "2" {
				t.Errorf("429: Retry-After %q, want 2", resp.Header.Get("Retry-After"))
			}
		}
	}
	s.SetFaults(bedrockModel, config.Faults{})

	resp, b := signedPost(t, bedrockURL(srv, "no.such-model:0", "converse"), body)
	wantBedrockError(t, resp, b, 404, "ResourceNotFoundException")

	long := strings.Replace(body, "Say hello.", strings.Repeat("On and on. ", 100), 1)
	resp, b = signedPost(t, bedrockURL(srv, bedrockModel, "converse"), long)
	if msg := wantBedrockError(t, resp, b, 400, "ValidationException"); !strings.Contains(msg, "Input is too long") {
		t.Errorf("context window: message %q does not say the input is too long", msg)
	}

	resp, b = signedPost(t, bedrockURL(srv, bedrockModel, "converse"), `{"messages":`)
	wantBedrockError(t, resp, b, 400, "ValidationException")
	resp, b = signedPost(t, bedrockURL(srv, bedrockModel, "converse"), `{"messages":[{"role":"system","content":[]}]}`)
	wantBedrockError(t, resp, b, 400, "ValidationException")
	resp, b = signedPost(t, bedrockURL(srv, embedModel, "converse"), body)
	wantBedrockError(t, resp, b, 400, "ValidationException")
}

func TestBedrockOverCapacity(t *testing.T) {
	s, srv := newBedrockServer(t, func(m *config.SimModel) {
		m.MaxConcurrency = 1
		m.TTFT = fixed(ms(300))
	})
	_ = s
	done := make(chan struct{})
	go func() {
		defer close(done)
		signedPost(t, bedrockURL(srv, bedrockModel, "converse"), strings.Replace(conversePrompt, "%d", "8", 1))
	}()
	time.Sleep(100 * time.Millisecond)
	resp, b := signedPost(t, bedrockURL(srv, bedrockModel, "converse"), strings.Replace(conversePrompt, "%d", "8", 1))
	wantBedrockError(t, resp, b, 503, "ServiceUnavailableException")
	<-done
}

func TestBedrockContentFilter(t *testing.T) {
	s, srv := newBedrockServer(t, nil)
	s.SetFaults(bedrockModel, config.Faults{ContentFilter: config.Fault{Rate: 1}})
	body := strings.Replace(conversePrompt, "%d", "8", 1)
	a := converse(t, srv, body)
	if a.StopReason != "content_filtered" || len(a.Output.Message.Content) != 0 || a.Usage.OutputTokens != 0 {
		t.Errorf("answer %+v, want content_filtered with no content", a)
	}
	events, err := converseStream(t, srv, body)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range events {
		types = append(types, ev.typ)
	}
	if got := strings.Join(types, ","); got != "messageStart,messageStop,metadata" {
		t.Errorf("events %s", got)
	}
}

func TestBedrockStreamFaults(t *testing.T) {
	s, srv := newBedrockServer(t, nil)
	body := strings.Replace(conversePrompt, "%d", "100", 1)
	deltas := func(events []bedrockEvent) int {
		n := 0
		for _, ev := range events {
			if ev.typ == "contentBlockDelta" {
				n++
			}
		}
		return n
	}

	s.SetFaults(bedrockModel, config.Faults{ErrorEvent: config.Fault{Rate: 1, AfterTokens: 2}})
	events, err := converseStream(t, srv, body)
	if err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1]
	if deltas(events) != 2 || last.kind != "exception" || last.typ != "modelStreamErrorException" || !bytes.Contains(last.payload, []byte(`"message"`)) {
		t.Errorf("error_event: %d deltas, last %s %s %s", deltas(events), last.kind, last.typ, last.payload)
	}

	s.SetFaults(bedrockModel, config.Faults{Malformed: config.Fault{Rate: 1, AfterTokens: 3}})
	events, err = converseStream(t, srv, body)
	if _, ok := errors.AsType[eventstream.ChecksumError](err); !ok || deltas(events) != 3 {
		t.Errorf("malformed: %d deltas, then %v; want 3 and a checksum error", deltas(events), err)
	}

	s.SetFaults(bedrockModel, config.Faults{Cut: config.Fault{Rate: 1, AfterTokens: 4}})
	events, err = converseStream(t, srv, body)
	if err != nil || deltas(events) != 4 || events[len(events)-1].typ != "contentBlockDelta" {
		t.Errorf("cut: %d deltas, last %q, %v; want the stream to end after 4 deltas", deltas(events), events[len(events)-1].typ, err)
	}

	s.SetFaults(bedrockModel, config.Faults{Stall: config.Fault{Rate: 1, AfterTokens: 1, Delay: ms(50)}})
	start := time.Now()
	events, err = converseStream(t, srv, body)
	if err != nil || events[len(events)-1].typ != "metadata" || time.Since(start) < 50*time.Millisecond {
		t.Errorf("stall: %v after %v", err, time.Since(start))
	}
}

func TestBedrockInvoke(t *testing.T) {
	s, srv := newBedrockServer(t, nil)
	texts := []string{"The quick brown fox.", "A lighthouse at night."}
	want, err := s.Embed(t.Context(), &llm.EmbedRequest{Model: embedModel, Input: texts, Dimensions: 32})
	if err != nil {
		t.Fatal(err)
	}

	resp, b := signedPost(t, bedrockURL(srv, embedModel, "invoke"), `{"inputText":"The quick brown fox.","dimensions":32,"normalize":true}`)
	var titan struct {
		Embedding []float32 `json:"embedding"`
		Tokens    int       `json:"inputTextTokenCount"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &titan) != nil {
		t.Fatalf("titan: %d %s", resp.StatusCode, b)
	}
	if len(titan.Embedding) != 32 || titan.Embedding[0] != want.Vectors[0][0] || titan.Tokens != textTokens(texts[0]) {
		t.Errorf("titan: %d dims, tokens %d", len(titan.Embedding), titan.Tokens)
	}
	if h := resp.Header.Get("X-Amzn-Bedrock-Input-Token-Count"); h != "5" {
		t.Errorf("token count header %q", h)
	}

	resp, b = signedPost(t, bedrockURL(srv, embedModel, "invoke"), `{"texts":["The quick brown fox.","A lighthouse at night."],"input_type":"search_document"}`)
	var cohere struct {
		Embeddings [][]float32 `json:"embeddings"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &cohere) != nil || len(cohere.Embeddings) != 2 {
		t.Fatalf("cohere: %d %s", resp.StatusCode, b)
	}
	if len(cohere.Embeddings[1]) != 64 {
		t.Errorf("cohere: %d dims, want the model's 64", len(cohere.Embeddings[1]))
	}

	resp, b = signedPost(t, bedrockURL(srv, embedModel, "invoke"), `{"prompt":"hi"}`)
	wantBedrockError(t, resp, b, 400, "ValidationException")
	resp, b = signedPost(t, bedrockURL(srv, bedrockModel, "invoke"), `{"inputText":"hi"}`)
	wantBedrockError(t, resp, b, 400, "ValidationException")
	resp, b = signedPost(t, bedrockURL(srv, "no.such-embed", "invoke"), `{"inputText":"hi"}`)
	wantBedrockError(t, resp, b, 404, "ResourceNotFoundException")
}

func TestSplitFragments(t *testing.T) {
	for _, s := range []string{"", "a", `{"city":"Zürich ünd"}`, strings.Repeat("é", 7)} {
		for n := 1; n < 12; n++ {
			parts := splitFragments([]byte(s), n)
			var joined []byte
			for _, p := range parts {
				joined = append(joined, p...)
				if len(p) > 0 && !utf8ValidStart(p) {
					t.Errorf("%q/%d: a piece starts inside a rune: %q", s, n, p)
				}
			}
			if len(parts) != n || string(joined) != s {
				t.Errorf("%q/%d: %d pieces joined to %q", s, n, len(parts), joined)
			}
		}
	}
}

func utf8ValidStart(p []byte) bool { return p[0] < 0x80 || p[0] >= 0xc0 }
