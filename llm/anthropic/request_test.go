package anthropic

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

func testClient(t testing.TB, o Options) *Client {
	t.Helper()
	if o.Name == "" {
		o.Name = "anth"
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// translated builds the Messages API body of an OpenAI body, as a map.
func translated(t *testing.T, c *Client, body string, cont ...llm.Message) map[string]any {
	t.Helper()
	req := &llm.ChatRequest{Model: "claude-test", Body: []byte(body), Continue: len(cont) > 0, Messages: cont}
	b, err := c.buildRequest(req, false)
	if err != nil {
		t.Fatalf("buildRequest: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTranslateConversation(t *testing.T) {
	c := testClient(t, Options{})
	body := `{
	  "model": "alias",
	  "messages": [
	    {"role": "system", "content": "You are terse."},
	    {"role": "developer", "content": [{"type":"text","text":"Answer in English."}]},
	    {"role": "user", "content": "What is in this picture?"},
	    {"role": "user", "content": [
	      {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
	      {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}}
	    ]},
	    {"role": "assistant", "content": "Let me look.", "tool_calls": [
	      {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}},
	      {"id": "call_2", "type": "function", "function": {"name": "time", "arguments": ""}}
	    ]},
	    {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"},
	    {"role": "tool", "tool_call_id": "call_2", "content": [{"type":"text","text":"Noon"}]},
	    {"role": "user", "content": "Thanks."}
	  ],
	  "tools": [
	    {"type": "function", "function": {"name": "weather", "description": "The weather.", "parameters": {"type":"object","properties":{"city":{"type":"string"}}}}},
	    {"type": "function", "function": {"name": "time"}}
	  ],
	  "tool_choice": "required",
	  "parallel_tool_calls": false,
	  "stop": ["END"],
	  "temperature": 1.5,
	  "top_p": 0.9,
	  "user": "u-42",
	  "seed": 7,
	  "presence_penalty": 0.5
	}`
	got := jsonString(t, translated(t, c, body))
	want := jsonString(t, map[string]any{
		"model":      "claude-test",
		"max_tokens": 4096,
		"system":     []any{map[string]any{"type": "text", "text": "You are terse."}, map[string]any{"type": "text", "text": "Answer in English."}},
		"messages": []any{
			map[string]any{"role": "user", "content": []any{
				map[string]any{"type": "text", "text": "What is in this picture?"},
				map[string]any{"type": "image", "source": map[string]any{"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
				map[string]any{"type": "image", "source": map[string]any{"type": "url", "url": "https://example.com/cat.jpg"}},
			}},
			map[string]any{"role": "assistant", "content": []any{
				map[string]any{"type": "text", "text": "Let me look."},
				map[string]any{"type": "tool_use", "id": "call_1", "name": "weather", "input": map[string]any{"city": "Paris"}},
				map[string]any{"type": "tool_use", "id": "call_2", "name": "time", "input": map[string]any{}},
			}},
			map[string]any{"role": "user", "content": []any{
				map[string]any{"type": "tool_result", "tool_use_id": "call_1", "content": []any{map[string]any{"type": "text", "text": "Sunny"}}},
				map[string]any{"type": "tool_result", "tool_use_id": "call_2", "content": []any{map[string]any{"type": "text", "text": "Noon"}}},
				map[string]any{"type": "text", "text": "Thanks."},
			}},
		},
		"tools": []any{
			map[string]any{"name": "weather", "description": "The weather.", "input_schema": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}},
			map[string]any{"name": "time", "input_schema": map[string]any{"type": "object", "properties": map[string]any{}}},
		},
		"tool_choice":    map[string]any{"type": "any", "disable_parallel_tool_use": true},
		"stop_sequences": []any{"END"},
		"temperature":    1,
		"top_p":          0.9,
		"metadata":       map[string]any{"user_id": "u-42"},
	})
	if got != want {
		t.Errorf("translated\n%s\nwant\n%s", got, want)
	}
}

func TestTranslateToolChoices(t *testing.T) {
	c := testClient(t, Options{DefaultMaxTokens: 100})
	tools := `"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]`
	for choice, want := range map[string]string{
		`"auto"`:     `{"type":"auto"}`,
		`"none"`:     `{"type":"none"}`,
		`"required"`: `{"type":"any"}`,
		`{"type":"function","function":{"name":"f"}}`: `{"name":"f","type":"tool"}`,
	} {
		m := translated(t, c, `{"messages":[{"role":"user","content":"Hi"}],`+tools+`,"tool_choice":`+choice+`}`)
		if got := jsonString(t, m["tool_choice"]); got != want {
			t.Errorf("tool_choice %s → %s, want %s", choice, got, want)
		}
		if m["max_tokens"] != 100.0 {
			t.Errorf("max_tokens %v, want the default 100", m["max_tokens"])
		}
	}
	// The client's max_tokens wins; no tools, no tool_choice.
	m := translated(t, c, `{"messages":[{"role":"user","content":"Hi"}],"max_completion_tokens":12,"tool_choice":"auto"}`)
	if m["max_tokens"] != 12.0 || m["tool_choice"] != nil || m["tools"] != nil {
		t.Errorf("got %v", m)
	}
}

func TestTranslateContinue(t *testing.T) {
	c := testClient(t, Options{})
	body := `{"messages":[{"role":"user","content":"Count."}],"stream":true}`
	m := translated(t, c, body, llm.Message{Role: "user", Content: "Count."}, llm.Message{Role: "assistant", Content: "One, two, "})
	msgs := m["messages"].([]any)
	last := msgs[len(msgs)-1].(map[string]any)
	if got := jsonString(t, last); got != `{"content":[{"text":"One, two,","type":"text"}],"role":"assistant"}` {
		t.Errorf("prefill %s", got)
	}
	if !c.ContinuesPrefix() {
		t.Error("ContinuesPrefix is false")
	}
}

func TestTranslateUnsupported(t *testing.T) {
	c := testClient(t, Options{})
	for feature, body := range map[string]string{
		"n > 1":                       `{"messages":[{"role":"user","content":"Hi"}],"n":2}`,
		"logprobs":                    `{"messages":[{"role":"user","content":"Hi"}],"logprobs":true}`,
		"response_format json_schema": `{"messages":[{"role":"user","content":"Hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}}`,
		"response_format json_object": `{"messages":[{"role":"user","content":"Hi"}],"response_format":{"type":"json_object"}}`,
		"input_audio":                 `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA==","format":"wav"}}]}]}`,
		"image/bmp":                   `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/bmp;base64,AAAA"}}]}]}`,
	} {
		_, err := c.buildRequest(&llm.ChatRequest{Model: "m", Body: []byte(body)}, false)
		var le *llm.Error
		if !errors.As(err, &le) || le.Kind != llm.KindBadRequest || le.Code != "unsupported_feature" || le.Provider != "anth" || le.Model != "m" ||
			!strings.Contains(le.Message, feature) {
			t.Errorf("%s: %v (%+v)", feature, err, le)
		}
	}
	// Requests that are wrong rather than unsupported.
	for _, body := range []string{
		`not json`,
		`{"messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`,
		`{"messages":[{"role":"tool","content":"x"}]}`,
		`{"messages":[]}`,
	} {
		_, err := c.buildRequest(&llm.ChatRequest{Model: "m", Body: []byte(body)}, false)
		var le *llm.Error
		if !errors.As(err, &le) || le.Kind != llm.KindBadRequest || le.Code == "unsupported_feature" || le.Provider != "anth" || le.Model != "m" {
			t.Errorf("%s: %v", body, err)
		}
	}
}
