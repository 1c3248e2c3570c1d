package bedrock

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

// chatRequest is a request as the API layer decodes it, for model, with
// body as the client's JSON.
func chatRequest(model, body string) *llm.ChatRequest {
	return &llm.ChatRequest{Model: model, Body: json.RawMessage(body)}
}

// okAnswer is a minimal Converse answer.
const okAnswer = `{"output":{"message":{"role":"assistant","content":[{"text":"ok"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2}}`

var png = base64.StdEncoding.EncodeToString([]byte("\x89PNG fake"))

// TestTranslateWire checks the Converse body the SDK sends for a request
// with every mapped feature: system and developer messages, an image,
// assistant tool calls, tool results (merged into one user message with
// the next user turn), tools with their schemas, tool_choice, sampling,
// stop sequences and structured output.
func TestTranslateWire(t *testing.T) {
	f := &fake{body: []byte(okAnswer)}
	c := newFakeClient(t, f, Options{})
	body := `{"model":"alias","messages":[
	{"role":"system","content":"You are terse."},
	{"role":"developer","content":[{"type":"text","text":"Use tools."}]},
	{"role":"user","content":[{"type":"text","text":"What is in this image, and the weather?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,` + png + `"}}]},
	{"role":"assistant","content":"Let me check.","tool_calls":[
		{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"big\":12345678901234567890}"}},
		{"id":"call_2","type":"function","function":{"name":"get_time","arguments":""}}]},
	{"role":"tool","tool_call_id":"call_1","content":"18C"},
	{"role":"tool","tool_call_id":"call_2","content":"noon"},
	{"role":"user","content":"Thanks."}],
	"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
	         {"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{}}}}],
	"tool_choice":{"type":"function","function":{"name":"get_weather"}},
	"temperature":0.5,"top_p":0.25,"stop":["END"],"max_completion_tokens":99,
	"response_format":{"type":"json_schema","json_schema":{"name":"answer","schema":{"type":"object"}}}}`
	if _, err := c.Chat(t.Context(), chatRequest("us.anthropic.claude-sonnet-4-v1:0", body)); err != nil {
		t.Fatal(err)
	}
	if got, want := f.paths[0], "/model/us.anthropic.claude-sonnet-4-v1%3A0/converse"; got != want {
		t.Errorf("path %s, want %s", got, want)
	}
	got := f.lastBody(t)
	want := map[string]any{
		"system": []any{map[string]any{"text": "You are terse."}, map[string]any{"text": "Use tools."}},
		"messages": []any{
			map[string]any{"role": "user", "content": []any{
				map[string]any{"text": "What is in this image, and the weather?"},
				map[string]any{"image": map[string]any{"format": "png", "source": map[string]any{"bytes": png}}},
			}},
			map[string]any{"role": "assistant", "content": []any{
				map[string]any{"text": "Let me check."},
				map[string]any{"toolUse": map[string]any{"toolUseId": "call_1", "name": "get_weather",
					"input": map[string]any{"city": "Paris", "big": json.Number("12345678901234567890")}}},
				map[string]any{"toolUse": map[string]any{"toolUseId": "call_2", "name": "get_time", "input": map[string]any{}}},
			}},
			map[string]any{"role": "user", "content": []any{
				map[string]any{"toolResult": map[string]any{"toolUseId": "call_1", "content": []any{map[string]any{"text": "18C"}}}},
				map[string]any{"toolResult": map[string]any{"toolUseId": "call_2", "content": []any{map[string]any{"text": "noon"}}}},
				map[string]any{"text": "Thanks."},
			}},
		},
		"inferenceConfig": map[string]any{"maxTokens": json.Number("99"), "temperature": json.Number("0.5"),
			"topP": json.Number("0.25"), "stopSequences": []any{"END"}},
		"toolConfig": map[string]any{
			"tools": []any{
				map[string]any{"toolSpec": map[string]any{"name": "get_weather", "description": "Weather of a city",
					"inputSchema": map[string]any{"json": map[string]any{"type": "object",
						"properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []any{"city"}}}}},
				map[string]any{"toolSpec": map[string]any{"name": "get_time",
					"inputSchema": map[string]any{"json": map[string]any{"type": "object", "properties": map[string]any{}}}}},
			},
			"toolChoice": map[string]any{"tool": map[string]any{"name": "get_weather"}},
		},
		"outputConfig": map[string]any{"textFormat": map[string]any{"type": "json_schema",
			"structure": map[string]any{"jsonSchema": map[string]any{"name": "answer", "schema": `{"type":"object"}`}}}},
	}
	gotN := reNumber(t, f.bodies[0])
	for k, w := range want {
		if !reflect.DeepEqual(gotN[k], w) {
			gj, _ := json.Marshal(gotN[k])
			wj, _ := json.Marshal(w)
			t.Errorf("%s:\n got  %s\n want %s", k, gj, wj)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected member %s: %v", k, got[k])
		}
	}
}

// reNumber decodes b keeping numbers as json.Number.
func reNumber(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTranslateToolChoiceAndDefaults(t *testing.T) {
	tools := `"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]`
	cases := []struct {
		name, extra string
		choice      any // toolConfig.toolChoice; nil: no toolConfig
		maxTokens   any
	}{
		{"auto", tools + `,"tool_choice":"auto"`, map[string]any{"auto": map[string]any{}}, json.Number("50")},
		{"default auto", tools, map[string]any{"auto": map[string]any{}}, json.Number("50")},
		{"required", tools + `,"tool_choice":"required"`, map[string]any{"any": map[string]any{}}, json.Number("50")},
		{"none", tools + `,"tool_choice":"none"`, nil, json.Number("50")},
		{"no tools", `"max_tokens":7`, nil, json.Number("7")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{body: []byte(okAnswer)}
			c := newFakeClient(t, f, Options{DefaultMaxTokens: 50})
			body := `{"model":"m","messages":[{"role":"user","content":"hi"}],` + tc.extra + `}`
			if _, err := c.Chat(t.Context(), chatRequest("m", body)); err != nil {
				t.Fatal(err)
			}
			got := reNumber(t, f.bodies[0])
			var choice any
			if cfg, ok := got["toolConfig"].(map[string]any); ok {
				choice = cfg["toolChoice"]
				if choice == nil {
					choice = "(omitted)"
				}
			}
			if !reflect.DeepEqual(choice, tc.choice) {
				t.Errorf("toolChoice %v, want %v", choice, tc.choice)
			}
			if mt := got["inferenceConfig"].(map[string]any)["maxTokens"]; mt != tc.maxTokens {
				t.Errorf("maxTokens %v, want %v", mt, tc.maxTokens)
			}
		})
	}
}

// TestTranslateNoneWithHistory: tool_choice none keeps the tools when the
// messages hold tool calls, which Bedrock accepts only with tools declared.
func TestTranslateNoneWithHistory(t *testing.T) {
	f := &fake{body: []byte(okAnswer)}
	c := newFakeClient(t, f, Options{})
	body := `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"1","content":"x"}],
	"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"none"}`
	if _, err := c.Chat(t.Context(), chatRequest("m", body)); err != nil {
		t.Fatal(err)
	}
	cfg, ok := f.lastBody(t)["toolConfig"].(map[string]any)
	if !ok || cfg["toolChoice"] != nil || len(cfg["tools"].([]any)) != 1 {
		t.Errorf("toolConfig %v: want the tools without a choice", cfg)
	}
}

func TestTranslateUnsupported(t *testing.T) {
	f := &fake{body: []byte(okAnswer)}
	c := newFakeClient(t, f, Options{})
	user := `"messages":[{"role":"user","content":"hi"}]`
	cases := map[string]string{
		"n":           `{` + user + `,"n":2}`,
		"logprobs":    `{` + user + `,"logprobs":true}`,
		"image url":   `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}`,
		"image type":  `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/tiff;base64,AAAA"}}]}]}`,
		"json_object": `{` + user + `,"response_format":{"type":"json_object"}}`,
	}
	for name, body := range cases {
		_, err := c.Chat(t.Context(), chatRequest("m", body))
		e := asLLMError(t, err)
		if e.Kind != llm.KindBadRequest || e.Code != "unsupported_feature" || e.Model != "m" || e.Status != 400 {
			t.Errorf("%s: %+v, want an unsupported_feature 400", name, e)
		}
	}
	for name, body := range map[string]string{
		"bad arguments": `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"[1"}}]}]}`,
		"no messages":   `{"messages":[{"role":"system","content":"hi"}]}`,
		"not JSON":      `{"messages":`,
	} {
		_, err := c.Chat(t.Context(), chatRequest("m", body))
		if e := asLLMError(t, err); e.Kind != llm.KindBadRequest || e.Model != "m" {
			t.Errorf("%s: %+v, want a bad request", name, e)
		}
	}
	if len(f.bodies) != 0 {
		t.Errorf("%d refused requests were sent", len(f.bodies))
	}
}

// TestTranslateContinue: the answer so far goes as a trailing assistant
// message without trailing whitespace (a prefill).
func TestTranslateContinue(t *testing.T) {
	f := &fake{body: []byte(okAnswer)}
	c := newFakeClient(t, f, Options{ContinuePrefix: true})
	if !c.ContinuesPrefix() {
		t.Error("ContinuesPrefix is false")
	}
	req := chatRequest("m", `{"messages":[{"role":"user","content":"Count."}]}`)
	req.Continue = true
	req.Messages = []llm.Message{{Role: "user", Content: "Count."}, {Role: "assistant", Content: "One, two, "}}
	if _, err := c.Chat(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	msgs := f.lastBody(t)["messages"].([]any)
	last := msgs[len(msgs)-1].(map[string]any)
	if last["role"] != "assistant" || last["content"].([]any)[0].(map[string]any)["text"] != "One, two," {
		t.Errorf("last message %v", last)
	}
}
