package bedrock

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bulwark-ai/bulwark/llm"
)

const userHi = `{"model":"alias","messages":[{"role":"user","content":"hi"}]}`

// stopReasons maps every Bedrock stop reason to its finish_reason.
var stopReasons = map[string]string{
	"end_turn":                      "stop",
	"stop_sequence":                 "stop",
	"max_tokens":                    "length",
	"model_context_window_exceeded": "length",
	"tool_use":                      "tool_calls",
	"guardrail_intervened":          "content_filter",
	"content_filtered":              "content_filter",
	"malformed_model_output":        "stop",
	"some_future_reason":            "stop",
}

func TestChatResponse(t *testing.T) {
	for stop, finish := range stopReasons {
		t.Run(stop, func(t *testing.T) {
			answer := fmt.Sprintf(`{"output":{"message":{"role":"assistant","content":[
				{"text":"Checking."},
				{"toolUse":{"toolUseId":"tooluse_1","name":"get_weather","input":{"city":"Paris","n":12345678901234567890}}},
				{"text":" Done."}]}},
				"stopReason":%q,"usage":{"inputTokens":10,"outputTokens":5,"totalTokens":15,"cacheReadInputTokens":4}}`, stop)
			f := &fake{body: []byte(answer), header: http.Header{"X-Amzn-Requestid": {"req-123"}}}
			c := newFakeClient(t, f, Options{})
			resp, err := c.Chat(t.Context(), chatRequest("m", userHi))
			if err != nil {
				t.Fatal(err)
			}
			var w struct {
				ID      string `json:"id"`
				Object  string `json:"object"`
				Model   string `json:"model"`
				Choices []struct {
					Message struct {
						Role      string `json:"role"`
						Content   string `json:"content"`
						ToolCalls []struct {
							ID       string `json:"id"`
							Type     string `json:"type"`
							Function struct{ Name, Arguments string }
						} `json:"tool_calls"`
					} `json:"message"`
					FinishReason string `json:"finish_reason"`
				} `json:"choices"`
			}
			if err := json.Unmarshal(resp.Body, &w); err != nil {
				t.Fatal(err)
			}
			if w.ID != "chatcmpl-req-123" || w.Object != "chat.completion" || w.Model != "m" || resp.Model != "m" {
				t.Errorf("id %q object %q model %q/%q", w.ID, w.Object, w.Model, resp.Model)
			}
			ch := w.Choices[0]
			if ch.Message.Role != "assistant" || ch.Message.Content != "Checking. Done." {
				t.Errorf("message %+v", ch.Message)
			}
			if len(ch.Message.ToolCalls) != 1 {
				t.Fatalf("tool calls %+v", ch.Message.ToolCalls)
			}
			tc := ch.Message.ToolCalls[0]
			if tc.ID != "tooluse_1" || tc.Type != "function" || tc.Function.Name != "get_weather" ||
				!strings.Contains(tc.Function.Arguments, `"n":12345678901234567890`) || !strings.Contains(tc.Function.Arguments, `"city":"Paris"`) {
				t.Errorf("tool call %+v", tc)
			}
			if ch.FinishReason != finish || resp.FinishReasons[0] != finish {
				t.Errorf("finish %q/%v, want %q", ch.FinishReason, resp.FinishReasons, finish)
			}
			if u := resp.Usage; u.PromptTokens != 14 || u.CompletionTokens != 5 || u.TotalTokens != 19 || u.CachedTokens != 4 {
				t.Errorf("usage %+v, want 14 prompt tokens (4 cached), 5 completion, 19 in all", u)
			}
		})
	}
}

// TestChatContentFiltered: an answer blocked before any output is a
// content-filter error; one with output is an answer that finished so.
func TestChatContentFiltered(t *testing.T) {
	for _, stop := range []string{"content_filtered", "guardrail_intervened"} {
		f := &fake{body: []byte(`{"output":{"message":{"role":"assistant","content":[]}},"stopReason":"` + stop + `","usage":{"inputTokens":3,"outputTokens":0,"totalTokens":3}}`)}
		c := newFakeClient(t, f, Options{})
		_, err := c.Chat(t.Context(), chatRequest("m", userHi))
		if e := asLLMError(t, err); e.Kind != llm.KindContentFilter || e.Kind.Retryable() {
			t.Errorf("%s: %+v, want content_filter", stop, e)
		}
	}
}

// TestStreamChunks checks every event's translation: role, text deltas,
// a tool call's start and argument deltas, the finish reason of every
// stop reason, then usage; and that the stream ends with io.EOF.
func TestStreamChunks(t *testing.T) {
	for stop, finish := range stopReasons {
		t.Run(stop, func(t *testing.T) {
			events := encodeEvents(
				event{typ: "messageStart", payload: `{"role":"assistant"}`},
				event{typ: "contentBlockDelta", payload: `{"contentBlockIndex":0,"delta":{"text":"Let me look."}}`},
				event{typ: "contentBlockStop", payload: `{"contentBlockIndex":0}`},
				event{typ: "contentBlockStart", payload: `{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"tu_1","name":"get_weather"}}}`},
				event{typ: "contentBlockDelta", payload: `{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"city\":"}}}`},
				event{typ: "contentBlockDelta", payload: `{"contentBlockIndex":1,"delta":{"toolUse":{"input":"\"Paris\"}"}}}`},
				event{typ: "contentBlockStop", payload: `{"contentBlockIndex":1}`},
				event{typ: "contentBlockStart", payload: `{"contentBlockIndex":2,"start":{"toolUse":{"toolUseId":"tu_2","name":"get_time"}}}`},
				event{typ: "contentBlockDelta", payload: `{"contentBlockIndex":2,"delta":{"toolUse":{"input":"{}"}}}`},
				event{typ: "someFutureEvent", payload: `{}`},
				event{typ: "messageStop", payload: `{"stopReason":"` + stop + `"}`},
				event{typ: "metadata", payload: `{"usage":{"inputTokens":7,"outputTokens":3,"totalTokens":10},"metrics":{"latencyMs":12}}`},
			)
			f := &fake{body: events, header: streamHeader}
			c := newFakeClient(t, f, Options{})
			s, err := c.Stream(t.Context(), chatRequest("m", userHi))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			chunks, err := drain(t, s)
			if err != io.EOF {
				t.Fatalf("stream ended with %v", err)
			}
			var got []string
			for _, ch := range chunks {
				w := parseChunk(t, ch)
				if w.Model != "m" || !strings.HasPrefix(w.ID, "chatcmpl-") || ch.Model != "m" {
					t.Errorf("chunk id %q model %q/%q", w.ID, w.Model, ch.Model)
				}
				switch {
				case w.Usage != nil:
					got = append(got, fmt.Sprintf("usage %d/%d", w.Usage.PromptTokens, w.Usage.CompletionTokens))
					if ch.Usage == nil || ch.HasContent {
						t.Error("usage chunk: Usage not set or HasContent")
					}
				case w.Choices[0].FinishReason != nil:
					got = append(got, "finish "+*w.Choices[0].FinishReason)
					if ch.FinishReason != *w.Choices[0].FinishReason {
						t.Errorf("FinishReason %q", ch.FinishReason)
					}
				case len(w.Choices[0].Delta.ToolCalls) > 0:
					tc := w.Choices[0].Delta.ToolCalls[0]
					got = append(got, fmt.Sprintf("tool %d %s %s %q", tc.Index, tc.ID, tc.Function.Name, tc.Function.Arguments))
				case w.Choices[0].Delta.Role != "":
					got = append(got, "role "+w.Choices[0].Delta.Role)
				default:
					got = append(got, "text "+*w.Choices[0].Delta.Content)
				}
			}
			want := []string{
				"role assistant", "text Let me look.",
				`tool 0 tu_1 get_weather ""`, `tool 0   "{\"city\":"`, `tool 0   "\"Paris\"}"`,
				`tool 1 tu_2 get_time ""`, `tool 1   "{}"`,
				"finish " + finish, "usage 7/3",
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("chunks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if ch, err := s.Recv(); ch != nil || err != io.EOF {
				t.Errorf("Recv after the end: %v, %v", ch, err)
			}
		})
	}
}

// TestStreamBreaks checks how streams that do not end properly surface:
// in Stream itself before any output, in Recv after it.
func TestStreamBreaks(t *testing.T) {
	start := textEvents[:2] // messageStart and a text delta
	cases := []struct {
		name     string
		events   []byte
		inStream bool // the error comes from Stream, before any output
		kind     llm.Kind
		brk      llm.Break
	}{
		{"no metadata", encodeEvents(textEvents[:5]...), false, llm.KindStreamBroken, llm.BreakCut},
		{"cut", encodeEvents(start...), false, llm.KindStreamBroken, llm.BreakCut},
		{"cut inside a frame", encodeEvents(textEvents...)[:len(encodeEvents(textEvents[:2]...))+30], false, llm.KindStreamBroken, llm.BreakCut},
		{"bad checksum", corrupt(encodeEvents(textEvents...)), false, llm.KindStreamBroken, llm.BreakMalformed},
		{"bad payload", encodeEvents(append(append([]event{}, start...), event{typ: "contentBlockDelta", payload: `{"delta":`})...), false, llm.KindStreamBroken, llm.BreakMalformed},
		{"stream error", encodeEvents(append(append([]event{}, start...), event{typ: "modelStreamErrorException", exception: true, payload: `{"message":"boom","originalStatusCode":500}`})...), false, llm.KindServer, llm.BreakErrorEvent},
		{"throttled mid-stream", encodeEvents(append(append([]event{}, start...), event{typ: "throttlingException", exception: true, payload: `{"message":"slow down"}`})...), false, llm.KindRateLimited, llm.BreakErrorEvent},
		{"unavailable mid-stream", encodeEvents(append(append([]event{}, start...), event{typ: "serviceUnavailableException", exception: true, payload: `{"message":"busy"}`})...), false, llm.KindOverloaded, llm.BreakErrorEvent},
		{"throttled first", encodeEvents(textEvents[0], event{typ: "throttlingException", exception: true, payload: `{"message":"slow down"}`}), true, llm.KindRateLimited, llm.BreakErrorEvent},
		{"validation first", encodeEvents(event{typ: "validationException", exception: true, payload: `{"message":"Input is too long for requested model."}`}), true, llm.KindContextLength, llm.BreakErrorEvent},
		{"filtered first", encodeEvents(textEvents[0], event{typ: "messageStop", payload: `{"stopReason":"content_filtered"}`}, textEvents[5]), true, llm.KindContentFilter, llm.BreakNone},
		{"empty", nil, true, llm.KindStreamBroken, llm.BreakCut},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{body: tc.events, header: streamHeader}
			c := newFakeClient(t, f, Options{})
			s, err := c.Stream(t.Context(), chatRequest("m", userHi))
			if tc.inStream {
				if err == nil {
					s.Close()
					t.Fatal("Stream succeeded")
				}
			} else {
				if err != nil {
					t.Fatalf("Stream: %v", err)
				}
				defer s.Close()
				var chunks []*llm.Chunk
				chunks, err = drain(t, s)
				if len(chunks) == 0 {
					t.Error("no chunks before the break")
				}
				if _, again := s.Recv(); again != err {
					t.Errorf("Recv after the break: %v, want %v again", again, err)
				}
			}
			e := asLLMError(t, err)
			if e.Kind != tc.kind || e.Break != tc.brk || e.Model != "m" {
				t.Errorf("error %+v: want kind %s, break %q", e, tc.kind, tc.brk)
			}
		})
	}
}

// corrupt flips a byte of the third message (after the prelude), so that
// its checksum no longer matches.
func corrupt(b []byte) []byte {
	b = append([]byte(nil), b...)
	b[len(encodeEvents(textEvents[:2]...))+20] ^= 0xff
	return b
}

// TestStreamCloseUnblocksRecv: Close from another goroutine ends a Recv
// that waits on a silent upstream.
func TestStreamCloseUnblocksRecv(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	c, err := New(t.Context(), Options{
		Name: "bedrock-test", Region: "us-east-1", Endpoint: "https://bedrock.test",
		Credentials: credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
		HTTPClient: &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			go func() { pw.Write(encodeEvents(textEvents[:2]...)) }()
			return &http.Response{StatusCode: 200, Header: streamHeader.Clone(), Body: pr, Request: r}, nil
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Stream(t.Context(), chatRequest("m", userHi))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(50 * time.Millisecond); s.Close() }()
	start := time.Now()
	_, err = s.Recv()
	if e := asLLMError(t, err); e.Kind != llm.KindCanceled || time.Since(start) > time.Second {
		t.Errorf("Recv after Close: %v after %v", err, time.Since(start))
	}
	s.Close()
}
