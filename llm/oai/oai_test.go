package oai

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

const fullRequest = `{
  "model": "alias",
  "messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": [
      {"type": "text", "text": "What is in "},
      {"type": "text", "text": "this picture?"},
      {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K", "detail": "low"}}
    ]},
    {"role": "assistant", "content": null, "tool_calls": [
      {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}
    ]},
    {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\":3}"}
  ],
  "tools": [{"type": "function", "function": {"name": "weather", "description": "Weather now",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}}],
  "tool_choice": {"type": "function", "function": {"name": "weather"}},
  "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true}},
  "temperature": 0.2, "top_p": 0.9, "max_tokens": 100, "max_completion_tokens": 200,
  "stop": "END", "seed": 7, "user": "u-1", "n": 1, "stream": true, "logprobs": true, "top_logprobs": 2,
  "parallel_tool_calls": false
}`

func TestParseRequestKeepsEveryFeature(t *testing.T) {
	r, err := ParseRequest(&llm.ChatRequest{Model: "claude-x", Body: []byte(fullRequest)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Model != "claude-x" || r.MaxTokens != 200 || *r.Temperature != 0.2 || *r.TopP != 0.9 || *r.Seed != 7 ||
		r.User != "u-1" || r.N != 1 || !r.Stream || !r.Logprobs || r.TopLogprobs != 2 || *r.ParallelToolCalls ||
		!reflect.DeepEqual(r.Stop, []string{"END"}) {
		t.Errorf("scalars: %+v", r)
	}
	if len(r.Messages) != 4 {
		t.Fatalf("messages: %+v", r.Messages)
	}
	if m := r.Messages[0]; m.Role != "system" || m.Text() != "Be brief." {
		t.Errorf("system: %+v", m)
	}
	user := r.Messages[1]
	if user.Text() != "What is in this picture?" || len(user.Parts) != 3 || user.Parts[2].Type != PartImage || user.Parts[2].Detail != "low" {
		t.Errorf("user: %+v", user)
	}
	if mt, data, ok := user.Parts[2].Image(); !ok || mt != "image/png" || len(data) != 6 {
		t.Errorf("image: %q %d %v", mt, len(data), ok)
	}
	if a := r.Messages[2]; a.Parts != nil || !reflect.DeepEqual(a.ToolCalls, []ToolCall{{ID: "call_1", Name: "weather", Arguments: `{"city":"Oslo"}`}}) {
		t.Errorf("assistant: %+v", a)
	}
	if tm := r.Messages[3]; tm.Role != "tool" || tm.ToolCallID != "call_1" || tm.Text() != `{"temp":3}` {
		t.Errorf("tool: %+v", tm)
	}
	if len(r.Tools) != 1 || r.Tools[0].Name != "weather" || !r.Tools[0].Strict || !json.Valid(r.Tools[0].Parameters) {
		t.Errorf("tools: %+v", r.Tools)
	}
	if *r.ToolChoice != (ToolChoice{Mode: ToolFunction, Name: "weather"}) {
		t.Errorf("tool choice: %+v", r.ToolChoice)
	}
	if f := r.ResponseFormat; f.Type != FormatJSONSchema || f.Name != "answer" || !f.Strict || string(f.Schema) != `{"type": "object"}` {
		t.Errorf("response format: %+v %s", f, f.Schema)
	}
}

func TestParseRequestLegacyFunctionsAndContinue(t *testing.T) {
	body := `{"messages":[{"role":"user","content":"hi"},{"role":"function","name":"f","content":"42"}],
	  "functions":[{"name":"f","parameters":{}}],"function_call":{"name":"f"},"stop":["a","b"]}`
	r, err := ParseRequest(&llm.ChatRequest{Model: "m", Body: []byte(body), Continue: true,
		Messages: []llm.Message{{Role: "user", Content: "hi"}, {Role: "assistant", Content: "So far"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Tools) != 1 || r.Tools[0].Name != "f" || *r.ToolChoice != (ToolChoice{Mode: ToolFunction, Name: "f"}) {
		t.Errorf("functions: %+v %+v", r.Tools, r.ToolChoice)
	}
	if m := r.Messages[1]; m.Role != "tool" || m.ToolCallID != "f" {
		t.Errorf("function result: %+v", m)
	}
	if last := r.Messages[len(r.Messages)-1]; !r.Continue || last.Role != "assistant" || last.Text() != "So far" {
		t.Errorf("continue: %+v", last)
	}
	if !reflect.DeepEqual(r.Stop, []string{"a", "b"}) {
		t.Errorf("stop: %v", r.Stop)
	}
}

func TestParseRequestRefusesWhatItCannotRead(t *testing.T) {
	for _, body := range []string{
		`not json`,
		`{"messages":[{"content":"no role"}]}`,
		`{"messages":[{"role":"user","content":42}]}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}`,
		`{"messages":[],"stop":42}`,
		`{"messages":[],"tool_choice":"sometimes"}`,
		`{"messages":[],"tool_choice":{"type":"function"}}`,
		`{"messages":[],"response_format":{"type":"json_schema"}}`,
	} {
		_, err := ParseRequest(&llm.ChatRequest{Model: "m", Body: []byte(body)})
		var le *llm.Error
		if !errors.As(err, &le) || le.Kind != llm.KindBadRequest || le.Status != 400 {
			t.Errorf("%s: %v, want a 400", body, err)
		}
	}
	if _, err := ParseRequest(&llm.ChatRequest{Model: "m", Body: []byte(`{"messages":[],"tools":[{"type":"code_interpreter"}]}`)}); err == nil {
		t.Error("a tool type other than function was accepted")
	} else if le := err.(*llm.Error); le.Code != "unsupported_feature" {
		t.Errorf("code %q", le.Code)
	}
}

func TestImageOnlyForDataURLs(t *testing.T) {
	for _, u := range []string{"https://example.com/a.png", "data:image/png,raw", "data:;base64,AAAA", "data:image/png;base64,!!"} {
		if _, _, ok := (Part{Type: PartImage, URL: u}).Image(); ok {
			t.Errorf("%s read as inline image data", u)
		}
	}
}

// What the encoders write reads back, with encoding/json, as the OpenAI
// format the API layer and SDKs expect.
func TestCompletionAndChunksAreOpenAIFormat(t *testing.T) {
	c := &Completion{ID: ID("msg_1"), Model: "claude-x", Created: 5, Text: "", FinishReason: FinishToolCalls,
		ToolCalls: []ToolCall{{ID: "toolu_1", Name: "weather", Arguments: `{"city":"Oslo"}`}},
		Usage:     llm.Usage{PromptTokens: 10, CompletionTokens: 3, CachedTokens: 4}}
	resp := c.Response()
	var got struct {
		ID, Object, Model string
		Choices           []struct {
			Message struct {
				Role      string
				Content   *string
				ToolCalls []struct {
					ID, Type string
					Function struct{ Name, Arguments string }
				} `json:"tool_calls"`
			}
			FinishReason string `json:"finish_reason"`
		}
		Usage struct {
			PromptTokens        int `json:"prompt_tokens"`
			TotalTokens         int `json:"total_tokens"`
			PromptTokensDetails struct {
				CachedTokens int `json:"cached_tokens"`
			} `json:"prompt_tokens_details"`
		}
	}
	if err := json.Unmarshal(resp.Body, &got); err != nil {
		t.Fatal(err)
	}
	ch := got.Choices[0]
	if got.ID != "chatcmpl-msg_1" || got.Object != "chat.completion" || ch.Message.Content != nil || ch.Message.Role != "assistant" ||
		len(ch.Message.ToolCalls) != 1 || ch.Message.ToolCalls[0].Function.Arguments != `{"city":"Oslo"}` || ch.Message.ToolCalls[0].Type != "function" ||
		ch.FinishReason != "tool_calls" || got.Usage.TotalTokens != 13 || got.Usage.PromptTokensDetails.CachedTokens != 4 {
		t.Errorf("completion: %s", resp.Body)
	}
	if resp.Usage.TotalTokens != 13 || !reflect.DeepEqual(resp.FinishReasons, []string{"tool_calls"}) || resp.Model != "claude-x" {
		t.Errorf("response: %+v", resp)
	}

	e := &ChunkEncoder{ID: "chatcmpl-msg_1", Model: "claude-x", Created: 5}
	chunks := []*llm.Chunk{e.Role(), e.Text("Hel"), e.ToolCallStart(0, "toolu_1", "weather"), e.ToolCallArgs(0, `{"ci`),
		e.Finish(FinishStop), e.Usage(llm.Usage{PromptTokens: 2, CompletionTokens: 1})}
	var args, text string
	for i, ck := range chunks {
		var w struct {
			ID, Object string
			Choices    []struct {
				Delta struct {
					Role      string
					Content   *string
					ToolCalls []struct {
						Index    int
						ID       string
						Function struct{ Name, Arguments string }
					} `json:"tool_calls"`
				}
				FinishReason *string `json:"finish_reason"`
			}
			Usage *struct {
				TotalTokens int `json:"total_tokens"`
			}
		}
		if err := json.Unmarshal(ck.Data, &w); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if w.ID != e.ID || w.Object != "chat.completion.chunk" || ck.Model != "claude-x" {
			t.Errorf("chunk %d: %s", i, ck.Data)
		}
		last := i == len(chunks)-1
		if ck.HasContent == last || (ck.Usage != nil) != last || (w.Usage != nil) != last || (len(w.Choices) == 0) != last {
			t.Errorf("chunk %d: %s %+v", i, ck.Data, ck)
		}
		for _, c := range w.Choices {
			if c.Delta.Content != nil {
				text += *c.Delta.Content
			}
			for _, tc := range c.Delta.ToolCalls {
				args += tc.Function.Arguments
			}
			if c.FinishReason != nil && ck.FinishReason != *c.FinishReason {
				t.Errorf("chunk %d: FinishReason %q", i, ck.FinishReason)
			}
		}
	}
	if text != "Hel" || args != `{"ci` || chunks[4].FinishReason != "stop" || chunks[5].Usage.TotalTokens != 3 {
		t.Errorf("text %q args %q", text, args)
	}
}

// A request body is untrusted: whatever it holds, ParseRequest returns a
// Request or a 400, never panics.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(fullRequest))
	for _, s := range []string{`{}`, `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:x;base64,"}}]}]}`,
		`{"tool_choice":"auto","stop":null}`, `[]`, `{"messages":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRequest(&llm.ChatRequest{Model: "m", Body: body})
		if err != nil {
			var le *llm.Error
			if !errors.As(err, &le) || le.Status != 400 {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		for _, m := range r.Messages {
			_ = m.Text()
			for _, p := range m.Parts {
				p.Image()
			}
		}
	})
}
