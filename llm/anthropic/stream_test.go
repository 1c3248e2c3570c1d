package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
)

// streamOf reads body as a Messages stream.
func streamOf(ctx context.Context, body string) *stream {
	c, _ := New(Options{Name: "anth", APIKey: "sk-ant-secret-key"})
	return newStream(ctx, c, "claude-test", io.NopCloser(strings.NewReader(body)))
}

func recvAll(t testing.TB, s llm.Stream) ([]*llm.Chunk, error) {
	t.Helper()
	var chunks []*llm.Chunk
	for range 10000 {
		ch, err := s.Recv()
		if err != nil {
			return chunks, err
		}
		chunks = append(chunks, ch)
	}
	t.Fatal("the stream does not end")
	return nil, nil
}

// sseOf writes events as an event stream.
func sseOf(events ...string) string {
	var b strings.Builder
	for _, ev := range events {
		var typ struct {
			Type string `json:"type"`
		}
		json.Unmarshal([]byte(ev), &typ)
		b.WriteString("event: " + typ.Type + "\ndata: " + ev + "\n\n")
	}
	return b.String()
}

const (
	evStart     = `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-x","stop_reason":null,"usage":{"input_tokens":10,"cache_read_input_tokens":5,"cache_creation_input_tokens":2,"output_tokens":1}}}`
	evTextStart = `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`
	evPing      = `{"type": "ping"}`
	evStop      = `{"type":"message_stop"}`
)

func evText(s string) string {
	return `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":` + jsonQuote(s) + `}}`
}

func evDelta(reason string, out int) string {
	return `{"type":"message_delta","delta":{"stop_reason":"` + reason + `","stop_sequence":null},"usage":{"output_tokens":` + itoa(out) + `}}`
}

func jsonQuote(s string) string { b, _ := json.Marshal(s); return string(b) }
func itoa(n int) string         { b, _ := json.Marshal(n); return string(b) }

// wireChunk is the part of an OpenAI chunk the tests read.
type wireChunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Role      string `json:"role"`
			Content   string `json:"content"`
			ToolCalls []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		Details          struct {
			CachedTokens int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	} `json:"usage"`
}

func decodeChunks(t *testing.T, chunks []*llm.Chunk) []wireChunk {
	t.Helper()
	out := make([]wireChunk, len(chunks))
	for i, ch := range chunks {
		if err := json.Unmarshal(ch.Data, &out[i]); err != nil {
			t.Fatalf("chunk %d: %v: %s", i, err, ch.Data)
		}
		if out[i].Object != "chat.completion.chunk" || out[i].ID != "chatcmpl-msg_1" || out[i].Model != "claude-x" || ch.Model != "claude-x" {
			t.Errorf("chunk %d head: %s", i, ch.Data)
		}
	}
	return out
}

func TestStreamTextAndToolCalls(t *testing.T) {
	body := sseOf(evStart, evTextStart, evPing, evText("Hello"), evText(", world."),
		`{"type":"content_block_stop","index":0}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_A","name":"weather","input":{}}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": "}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}`,
		`{"type":"content_block_stop","index":1}`,
		`{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_B","name":"time","input":{}}}`,
		`{"type":"content_block_stop","index":2}`,
		`{"type":"some_future_event","index":2}`,
		evDelta("tool_use", 42), evStop)
	s := streamOf(t.Context(), body)
	defer s.Close()
	chunks, err := recvAll(t, s)
	if err != io.EOF {
		t.Fatalf("end %v, want io.EOF", err)
	}
	w := decodeChunks(t, chunks)
	if len(w) != 9 {
		t.Fatalf("%d chunks", len(w))
	}
	if w[0].Choices[0].Delta.Role != "assistant" || !chunks[0].HasContent {
		t.Errorf("first chunk %s", chunks[0].Data)
	}
	if text := w[1].Choices[0].Delta.Content + w[2].Choices[0].Delta.Content; text != "Hello, world." {
		t.Errorf("text %q", text)
	}
	tc := w[3].Choices[0].Delta.ToolCalls
	if len(tc) != 1 || tc[0].Index != 0 || tc[0].ID != "toolu_A" || tc[0].Type != "function" || tc[0].Function.Name != "weather" {
		t.Errorf("tool call start %s", chunks[3].Data)
	}
	if args := w[4].Choices[0].Delta.ToolCalls[0].Function.Arguments + w[5].Choices[0].Delta.ToolCalls[0].Function.Arguments; args != `{"city": "Paris"}` {
		t.Errorf("arguments %q", args)
	}
	if tc := w[6].Choices[0].Delta.ToolCalls; tc[0].Index != 1 || tc[0].ID != "toolu_B" {
		t.Errorf("second tool call %s", chunks[6].Data)
	}
	if chunks[7].FinishReason != "tool_calls" || *w[7].Choices[0].FinishReason != "tool_calls" {
		t.Errorf("finish %s", chunks[7].Data)
	}
	u := chunks[8].Usage
	if u == nil || chunks[8].HasContent || *u != (llm.Usage{PromptTokens: 17, CompletionTokens: 42, TotalTokens: 59, CachedTokens: 5, CacheWriteTokens: 2}) {
		t.Errorf("usage chunk %+v %s", u, chunks[8].Data)
	}
	if w[8].Usage.Details.CachedTokens != 5 {
		t.Errorf("usage data %s", chunks[8].Data)
	}
	for range 2 {
		if ch, err := s.Recv(); ch != nil || err != io.EOF {
			t.Errorf("after the end: %v %v", ch, err)
		}
	}
}

func TestStreamFinishReasons(t *testing.T) {
	for stop, want := range map[string]string{
		"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
		"tool_use": "tool_calls", "refusal": "content_filter", "model_context_window_exceeded": "length", "new_reason": "stop",
	} {
		for _, withStop := range []bool{true, false} {
			events := []string{evStart, evTextStart, evText("Hi"), evDelta(stop, 3)}
			if withStop {
				events = append(events, evStop)
			}
			chunks, err := recvAll(t, streamOf(t.Context(), sseOf(events...)))
			if err != io.EOF {
				t.Fatalf("%s: %v", stop, err)
			}
			if n := len(chunks); n != 4 || chunks[2].FinishReason != want || chunks[3].Usage == nil {
				t.Errorf("%s (message_stop %v): %d chunks, finish %q", stop, withStop, n, chunks[2].FinishReason)
			}
		}
	}
}

func TestStreamBreaks(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		kind llm.Kind
		brk  llm.Break
	}{
		{"cut", sseOf(evStart, evTextStart, evText("Hi")), llm.KindStreamBroken, llm.BreakCut},
		{"not json", sseOf(evStart, evTextStart) + "event: content_block_delta\ndata: {not json\n\n", llm.KindStreamBroken, llm.BreakMalformed},
		{"not an object", sseOf(evStart) + "data: [1]\n\n", llm.KindStreamBroken, llm.BreakMalformed},
		{"before message_start", sseOf(evTextStart), llm.KindStreamBroken, llm.BreakMalformed},
		{"orphan input_json_delta", sseOf(evStart, `{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{"}}`), llm.KindStreamBroken, llm.BreakMalformed},
		{"overloaded", sseOf(evStart, evText("Hi")) + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n", llm.KindOverloaded, llm.BreakErrorEvent},
		{"api error", sseOf(evStart, `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`), llm.KindServer, llm.BreakErrorEvent},
		{"rate limit", sseOf(evStart, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`), llm.KindRateLimited, llm.BreakErrorEvent},
		{"prompt too long", sseOf(`{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 300000 tokens > 200000 maximum"}}`), llm.KindContextLength, llm.BreakErrorEvent},
		{"unknown error type", sseOf(evStart, `{"type":"error","error":{"type":"brand_new_error","message":"?"}}`), llm.KindServer, llm.BreakErrorEvent},
	} {
		s := streamOf(t.Context(), tc.body)
		_, err := recvAll(t, s)
		var le *llm.Error
		if !errors.As(err, &le) || le.Kind != tc.kind || le.Break != tc.brk || le.Provider != "anth" || le.Model != "claude-test" {
			t.Errorf("%s: %v (%+v)", tc.name, err, le)
			continue
		}
		if _, err2 := s.Recv(); err2 != err {
			t.Errorf("%s: Recv after the break = %v", tc.name, err2)
		}
		s.Close()
	}
}

func TestStreamContextEnds(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, sseOf(evStart))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	c := testClient(t, Options{BaseURL: srv.URL})
	ctx, cancel := context.WithCancel(t.Context())
	s, err := c.Stream(ctx, &llm.ChatRequest{Model: "m", Body: []byte(`{"messages":[{"role":"user","content":"Hi"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err = s.Recv()
	if llm.KindOf(err) != llm.KindCanceled {
		t.Errorf("after cancel: %v", err)
	}
}

// FuzzStream feeds arbitrary bytes to the stream parser: it must end with
// io.EOF or an *llm.Error, never panic, and every chunk must be JSON.
func FuzzStream(f *testing.F) {
	f.Add(sseOf(evStart, evTextStart, evPing, evText("Hello"), evDelta("end_turn", 2), evStop))
	f.Add(sseOf(evStart, `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{"a":1}}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"x\""}}`, evDelta("tool_use", 1)))
	f.Add("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n")
	f.Add("data: {\"type\":\"message_start\",\"message\":null}\n\ndata: {}\n\n")
	f.Add("data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":-5}}}\r\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"\u2028\"}}\r\r")
	f.Fuzz(func(t *testing.T, body string) {
		s := streamOf(context.Background(), body)
		defer s.Close()
		for range 100000 {
			ch, err := s.Recv()
			if err != nil {
				var le *llm.Error
				if err != io.EOF && !errors.As(err, &le) {
					t.Fatalf("error %v (%T) is neither io.EOF nor an *llm.Error", err, err)
				}
				if err2 := func() error { _, e := s.Recv(); return e }(); err2 != err {
					t.Fatalf("Recv after the end = %v, want %v", err2, err)
				}
				return
			}
			if ch == nil || !json.Valid(ch.Data) {
				t.Fatalf("chunk %v is not JSON", ch)
			}
		}
		t.Fatal("the stream does not end")
	})
}
