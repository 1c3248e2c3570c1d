package gemini

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/oai"
)

// translateBody parses an OpenAI request body and returns the Gemini
// request as generic JSON, or the error.
func translateBody(t *testing.T, body string) (map[string]any, error) {
	t.Helper()
	c, err := New(Options{Name: "gm", BaseURL: "http://upstream.invalid/v1beta"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.chatBody(&llm.ChatRequest{Model: "gemini-test", Body: json.RawMessage(body)})
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("request body is not JSON: %v: %s", err, b)
	}
	return m, nil
}

// canon re-encodes a JSON text, so that two texts compare by value.
func canon(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON in test: %v: %s", err, s)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestTranslateFull(t *testing.T) {
	body := `{
	  "model": "alias",
	  "messages": [
	    {"role": "system", "content": "Be brief."},
	    {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
	    {"role": "user", "content": [
	      {"type": "text", "text": "What is in this image, and the weather?"},
	      {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
	      {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}}
	    ]},
	    {"role": "assistant", "content": "Let me look.", "tool_calls": [
	      {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
	      {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}}
	    ]},
	    {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 21}"},
	    {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
	    {"role": "user", "content": "Thanks"}
	  ],
	  "tools": [
	    {"type": "function", "function": {"name": "get_weather", "description": "Weather.", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "additionalProperties": false}}},
	    {"type": "function", "function": {"name": "get_time"}}
	  ],
	  "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
	  "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}}},
	  "temperature": 0.3, "top_p": 0.9, "max_completion_tokens": 100, "stop": ["END"], "seed": 42, "n": 1,
	  "presence_penalty": 0, "frequency_penalty": 0.5, "parallel_tool_calls": false, "user": "u1", "stream": true
	}`
	got, err := translateBody(t, body)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
	  "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Use tools."}]},
	  "contents": [
	    {"role": "user", "parts": [
	      {"text": "What is in this image, and the weather?"},
	      {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
	      {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}}
	    ]},
	    {"role": "model", "parts": [
	      {"text": "Let me look."},
	      {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "skip_thought_signature_validator"},
	      {"functionCall": {"name": "get_time", "args": {}}}
	    ]},
	    {"role": "user", "parts": [
	      {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
	      {"functionResponse": {"name": "get_time", "response": {"content": "noon"}}},
	      {"text": "Thanks"}
	    ]}
	  ],
	  "tools": [{"functionDeclarations": [
	    {"name": "get_weather", "description": "Weather.", "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "additionalProperties": false}},
	    {"name": "get_time"}
	  ]}],
	  "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
	  "generationConfig": {
	    "temperature": 0.3, "topP": 0.9, "frequencyPenalty": 0.5, "maxOutputTokens": 100, "stopSequences": ["END"],
	    "seed": 42, "candidateCount": 1, "responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}
	  }
	}`
	gb, _ := json.Marshal(got)
	if string(gb) != canon(t, want) {
		t.Errorf("translation:\n got %s\nwant %s", gb, canon(t, want))
	}
}

func TestTranslateOptions(t *testing.T) {
	user := `"messages":[{"role":"user","content":"hi"}]`
	tools := `,"tools":[{"type":"function","function":{"name":"f"}}]`
	cases := []struct {
		name, extra, path, want string
	}{
		{"auto", tools + `,"tool_choice":"auto"`, "toolConfig", `{"functionCallingConfig":{"mode":"AUTO"}}`},
		{"none", tools + `,"tool_choice":"none"`, "toolConfig", `{"functionCallingConfig":{"mode":"NONE"}}`},
		{"required", tools + `,"tool_choice":"required"`, "toolConfig", `{"functionCallingConfig":{"mode":"ANY"}}`},
		{"json_object", `,"response_format":{"type":"json_object"}`, "generationConfig", `{"responseMimeType":"application/json"}`},
		{"text format", `,"response_format":{"type":"text"}`, "generationConfig", `null`},
		{"nothing", ``, "generationConfig", `null`},
		{"max_tokens", `,"max_tokens":7`, "generationConfig", `{"maxOutputTokens":7}`},
	}
	for _, c := range cases {
		got, err := translateBody(t, `{"model":"x",`+user+c.extra+`}`)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		b, _ := json.Marshal(got[c.path])
		if string(b) != canon(t, c.want) {
			t.Errorf("%s: %s = %s, want %s", c.name, c.path, b, c.want)
		}
	}
}

func TestTranslateRefusals(t *testing.T) {
	cases := []struct {
		name, body string
		code       string // "" for a plain bad request
	}{
		{"n", `{"messages":[{"role":"user","content":"hi"}],"n":2}`, "unsupported_feature"},
		{"logprobs", `{"messages":[{"role":"user","content":"hi"}],"logprobs":true}`, "unsupported_feature"},
		{"top_logprobs", `{"messages":[{"role":"user","content":"hi"}],"top_logprobs":2}`, "unsupported_feature"},
		{"audio", `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA==","format":"wav"}}]}]}`, "unsupported_feature"},
		{"ftp image", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`, "unsupported_feature"},
		{"seed", `{"messages":[{"role":"user","content":"hi"}],"seed":9999999999}`, "unsupported_feature"},
		{"orphan tool result", `{"messages":[{"role":"tool","tool_call_id":"nope","content":"x"}]}`, ""},
		{"bad arguments", `{"messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, ""},
		{"bad body", `{"messages":`, ""},
		{"bad role", `{"messages":[{"role":"wizard","content":"x"}]}`, ""},
	}
	for _, c := range cases {
		_, err := translateBody(t, c.body)
		var e *llm.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: error %v, want an *llm.Error", c.name, err)
			continue
		}
		if e.Kind != llm.KindBadRequest || e.Provider != "gm" || e.Model != "gemini-test" || (c.code != "" && e.Code != c.code) {
			t.Errorf("%s: %+v", c.name, e)
		}
	}

	// Continue: the gateway never asks this provider, but the translation
	// refuses it anyway.
	r := &oai.Request{Model: "m", Continue: true, Messages: []oai.Message{{Role: "user", Parts: []oai.Part{{Type: oai.PartText, Text: "x"}}}}}
	if _, err := translate(r, "gm"); err == nil || !strings.Contains(err.Error(), "prefix") {
		t.Errorf("continue: %v", err)
	}
}

func TestToolResponse(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1}`:   `{"a":1}`,
		` {"a":1} `: `{"a":1}`,
		`[1,2]`:     `{"content":"[1,2]"}`,
		`42`:        `{"content":"42"}`,
		`{broken`:   `{"content":"{broken"}`,
		``:          `{"content":""}`,
	} {
		if got := string(toolResponse(in)); got != want {
			t.Errorf("toolResponse(%q) = %s, want %s", in, got, want)
		}
	}
}
