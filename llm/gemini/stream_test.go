package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

// sseBody writes events as server-sent events.
func sseBody(events ...string) string {
	var b strings.Builder
	for _, e := range events {
		b.WriteString("data: " + e + "\r\n\r\n")
	}
	return b.String()
}

// streamChunk is the part of a chat.completion.chunk the tests read.
type streamChunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Role      string  `json:"role"`
			Content   *string `json:"content"`
			ToolCalls []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Function struct {
					Name      string  `json:"name"`
					Arguments *string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *llm.Usage `json:"usage"`
}

// readAll drains a stream.
func readAll(t *testing.T, s llm.Stream) ([]streamChunk, []*llm.Chunk, error) {
	t.Helper()
	var out []streamChunk
	var raw []*llm.Chunk
	for range 1000 {
		ch, err := s.Recv()
		if err != nil {
			return out, raw, err
		}
		var w streamChunk
		if err := json.Unmarshal(ch.Data, &w); err != nil {
			t.Fatalf("chunk is not JSON: %v: %s", err, ch.Data)
		}
		out = append(out, w)
		raw = append(raw, ch)
	}
	t.Fatal("stream did not end")
	return nil, nil, nil
}

func TestStreamTranslation(t *testing.T) {
	body := sseBody(
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]},"index":0}],"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9},"modelVersion":"gemini-x","responseId":"r1"}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"thought","thought":true},{"text":"lo."}]},"index":0}],"modelVersion":"gemini-x","responseId":"r1"}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f","args":{"a":[1, 2]}}},{"functionCall":{"name":"g","args":{}}}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":5,"totalTokenCount":14},"modelVersion":"gemini-x","responseId":"r1"}`,
	)
	c, f := newFake(t, 200, "text/event-stream", body)
	s, err := c.Stream(t.Context(), chatReq("gemini-y", true))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	chunks, raw, err := readAll(t, s)
	if err != io.EOF {
		t.Fatalf("stream ended with %v", err)
	}
	// role, "Hel", "lo.", f start, f args, g start, g args, finish, usage
	if len(chunks) != 9 {
		t.Fatalf("%d chunks", len(chunks))
	}
	if chunks[0].Choices[0].Delta.Role != "assistant" || !raw[0].HasContent {
		t.Errorf("first chunk %s", raw[0].Data)
	}
	if *chunks[1].Choices[0].Delta.Content+*chunks[2].Choices[0].Delta.Content != "Hello." {
		t.Errorf("text chunks %s %s", raw[1].Data, raw[2].Data)
	}
	for i, want := range []struct {
		index      int
		name, args string
	}{{0, "f", ""}, {0, "", `{"a":[1,2]}`}, {1, "g", ""}, {1, "", `{}`}} {
		tc := chunks[3+i].Choices[0].Delta.ToolCalls
		if len(tc) != 1 || tc[0].Index != want.index || tc[0].Function.Name != want.name || tc[0].Function.Arguments == nil || *tc[0].Function.Arguments != want.args {
			t.Errorf("tool call chunk %d: %s", i, raw[3+i].Data)
		}
		if want.name != "" && !strings.HasPrefix(tc[0].ID, "call_") {
			t.Errorf("tool call %d id %q", i, tc[0].ID)
		}
	}
	if fr := chunks[7].Choices[0].FinishReason; fr == nil || *fr != "tool_calls" || raw[7].FinishReason != "tool_calls" {
		t.Errorf("finish chunk %s", raw[7].Data)
	}
	if u := raw[8].Usage; u == nil || *u != (llm.Usage{PromptTokens: 9, CompletionTokens: 5, TotalTokens: 14}) || raw[8].HasContent || len(chunks[8].Choices) != 0 {
		t.Errorf("usage chunk %s", raw[8].Data)
	}
	for i, ch := range chunks {
		if ch.ID != "chatcmpl-r1" || ch.Model != "gemini-x" || ch.Object != "chat.completion.chunk" || raw[i].Model != "gemini-x" {
			t.Errorf("chunk %d: %s", i, raw[i].Data)
		}
	}
	for range 2 {
		if ch, err := s.Recv(); ch != nil || err != io.EOF {
			t.Errorf("Recv after the end: %v %v", ch, err)
		}
	}
	r := f.last(t)
	if r.path != "/v1beta/models/gemini-y:streamGenerateContent" || r.query != "alt=sse" || strings.Contains(r.query, "key") {
		t.Errorf("request %s?%s", r.path, r.query)
	}
}

func TestStreamFinishReasons(t *testing.T) {
	for reason, want := range map[string]string{"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter", "SPII": "content_filter", "OTHER": "stop"} {
		body := sseBody(
			`{"candidates":[{"content":{"parts":[{"text":"a"}]}}]}`,
			`{"candidates":[{"content":{"parts":[{"text":""}]},"finishReason":"`+reason+`"}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":1}}`,
			// Trailing events after the finish reason carry nothing more.
			`{"candidates":[{"content":{"parts":[{"text":"late"}]}}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":2}}`,
		)
		c, _ := newFake(t, 200, "text/event-stream", body)
		s, err := c.Stream(t.Context(), chatReq("m", true))
		if err != nil {
			t.Fatal(err)
		}
		chunks, raw, err := readAll(t, s)
		if err != io.EOF || len(chunks) != 4 {
			t.Fatalf("%s: %d chunks, %v", reason, len(chunks), err)
		}
		if raw[2].FinishReason != want {
			t.Errorf("%s: finish %q, want %q", reason, raw[2].FinishReason, want)
		}
		if u := raw[3].Usage; u == nil || u.CompletionTokens != 2 || u.TotalTokens != 3 {
			t.Errorf("%s: usage %s", reason, raw[3].Data)
		}
	}
}

func TestStreamFailures(t *testing.T) {
	text := `{"candidates":[{"content":{"parts":[{"text":"a"}]}}]}`
	cases := []struct {
		name, body string
		// atStart: Stream itself fails; else Recv does after some chunks.
		atStart bool
		kind    llm.Kind
		brk     llm.Break
	}{
		{"blocked", sseBody(`{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":4}}`), true, llm.KindContentFilter, llm.BreakNone},
		{"first event error", sseBody(`{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}`), true, llm.KindRateLimited, llm.BreakErrorEvent},
		{"empty body", "", true, llm.KindStreamBroken, llm.BreakCut},
		{"error event", sseBody(text, `{"error":{"code":500,"message":"oops","status":"INTERNAL"}}`), false, llm.KindServer, llm.BreakErrorEvent},
		{"overloaded event", sseBody(text, `{"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}`), false, llm.KindOverloaded, llm.BreakErrorEvent},
		{"malformed", sseBody(text, `{not json`), false, llm.KindStreamBroken, llm.BreakMalformed},
		{"not an object", sseBody(text, `[1]`), false, llm.KindStreamBroken, llm.BreakMalformed},
		{"no finish", sseBody(text, text), false, llm.KindStreamBroken, llm.BreakCut},
		{"malformed call", sseBody(text, `{"candidates":[{"finishReason":"MALFORMED_FUNCTION_CALL"}]}`), false, llm.KindServer, llm.BreakErrorEvent},
		{"blocked later", sseBody(text, `{"promptFeedback":{"blockReason":"OTHER"}}`), false, llm.KindContentFilter, llm.BreakErrorEvent},
	}
	for _, c := range cases {
		cl, _ := newFake(t, 200, "text/event-stream", c.body)
		s, err := cl.Stream(t.Context(), chatReq("m", true))
		if c.atStart {
			if err == nil {
				s.Close()
				t.Errorf("%s: Stream returned a stream", c.name)
				continue
			}
		} else {
			if err != nil {
				t.Errorf("%s: Stream: %v", c.name, err)
				continue
			}
			var chunks []streamChunk
			chunks, _, err = readAll(t, s)
			if len(chunks) == 0 {
				t.Errorf("%s: no chunks before the failure", c.name)
			}
			if _, err2 := s.Recv(); err2 != err {
				t.Errorf("%s: Recv after the failure = %v, want %v again", c.name, err2, err)
			}
		}
		e := asError(t, err)
		if e.Kind != c.kind || e.Break != c.brk || e.Model != "m" {
			t.Errorf("%s: kind %s break %q, want %s %q: %v", c.name, e.Kind, e.Break, c.kind, c.brk, e)
		}
	}
}

func TestStreamJSONAnswer(t *testing.T) {
	cases := []struct {
		body string
		kind llm.Kind
	}{
		{`{"error":{"code":400,"message":"The input token count (900) exceeds the maximum number of tokens allowed (64).","status":"INVALID_ARGUMENT"}}`, llm.KindContextLength},
		{`{"promptFeedback":{"blockReason":"SAFETY"}}`, llm.KindContentFilter},
		{`{"candidates":[]}`, llm.KindServer},
	}
	for _, c := range cases {
		cl, _ := newFake(t, 200, "application/json; charset=UTF-8", c.body)
		_, err := cl.Stream(t.Context(), chatReq("m", true))
		if e := asError(t, err); e.Kind != c.kind {
			t.Errorf("%s: %v", c.body, e)
		}
	}
}

func TestStreamCloseAndCancel(t *testing.T) {
	text := `{"candidates":[{"content":{"parts":[{"text":"a"}]}}]}`
	body := sseBody(text, text, text)
	cl, _ := newFake(t, 200, "text/event-stream", body)
	ctx, cancel := context.WithCancel(t.Context())
	s, err := cl.Stream(ctx, chatReq("m", true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := s.Recv(); asError(t, err).Kind != llm.KindCanceled {
		t.Errorf("after cancel: %v", err)
	}
	s.Close()

	s, err = cl.Stream(t.Context(), chatReq("m", true))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close()
	if _, err := s.Recv(); asError(t, err).Kind != llm.KindCanceled {
		t.Errorf("after Close: %v", err)
	}
}

// FuzzStream feeds arbitrary bytes to the stream parser: it must end with
// io.EOF or an *llm.Error, never panic, and every chunk must be JSON.
func FuzzStream(f *testing.F) {
	f.Add([]byte(sseBody(`{"candidates":[{"content":{"parts":[{"text":"a"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1}}`)))
	f.Add([]byte(sseBody(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"x":1}}}]},"finishReason":"STOP"}]}`)))
	f.Add([]byte(sseBody(`{"promptFeedback":{"blockReason":"SAFETY"}}`)))
	f.Add([]byte(sseBody(`{"error":{"code":"x","message":5,"status":[]}}`)))
	f.Add([]byte("data: {\"candidates\":[{\"index\":0,\"content\":{\"parts\":[{\"text\":\"\\ud800\"}]}}]}\n\ndata: {not json\n\n"))
	f.Add([]byte(": comment\nevent: error\ndata: {}\r\r"))
	c, err := New(Options{Name: "gm", BaseURL: "http://upstream.invalid"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newStream(t.Context(), c, "m", io.NopCloser(bytes.NewReader(data)))
		defer s.Close()
		for range len(data) + 8 {
			ch, err := s.Recv()
			if err == io.EOF {
				return
			}
			if err != nil {
				var e *llm.Error
				if !errors.As(err, &e) {
					t.Fatalf("error %v (%T) is not an *llm.Error", err, err)
				}
				return
			}
			if ch == nil || !json.Valid(ch.Data) {
				t.Fatalf("chunk %v is not JSON", ch)
			}
		}
		t.Fatal("the stream did not end")
	})
}
