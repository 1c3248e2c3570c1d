package anthropic

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/api/openai"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/oai"
)

var seeds = []string{
	`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"m","max_tokens":5,"system":[{"type":"text","text":"s"}],"stop_sequences":["x"],"temperature":0.2,"top_p":0.5,"metadata":{"user_id":"u"},"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]}]}`,
	`{"model":"m","max_tokens":5,"tools":[{"name":"t","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"t","input":{"x":1}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":"r","is_error":true}]}]}`,
	`{"model":"m","max_tokens":0,"messages":[]}`,
	`{"model":"m","max_tokens":5,"top_k":3,"messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document"}]}]}`,
	`[]`, `null`, `{"model":1}`, `{"messages":[{"role":"user","content":null}]}`,
}

// FuzzDecodeMessages: whatever the body, decoding gives a 4xx naming a
// problem or a body that api/openai's decoder and llm/oai both accept.
func FuzzDecodeMessages(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, count := range []bool{false, true} {
			tr, err := decodeMessages(body, count)
			if err != nil {
				var ae *api.Error
				if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Message == "" {
					t.Fatalf("error %#v for %q", err, body)
				}
				continue
			}
			req, err := openai.DecodeChat(tr.body)
			if err != nil {
				t.Fatalf("api/openai refuses the translation %s of %q: %v", tr.body, body, err)
			}
			if _, err := oai.ParseRequest(&llm.ChatRequest{Model: req.Model, Body: tr.body}); err != nil {
				t.Fatalf("llm/oai refuses the translation %s of %q: %v", tr.body, body, err)
			}
		}
	})
}

func TestDecodeNamesTheField(t *testing.T) {
	for body, field := range map[string]string{
		`{"model":"m","messages":[{"role":"user","content":"x"}]}`:                                                                    "max_tokens",
		`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_use","id":"a","name":"b","input":{}}]}]}`:    "messages.0.content.0",
		`{"model":"m","max_tokens":5,"tools":[{"name":"t"}],"messages":[{"role":"user","content":"x"}]}`:                              "tools.0.input_schema",
		`{"model":"m","max_tokens":5,"tool_choice":{"type":"some"},"messages":[{"role":"user","content":"x"}]}`:                       "tool_choice.type",
		`{"model":"m","max_tokens":5,"tools":[{"type":"web_search_20250305","name":"w"}],"messages":[{"role":"user","content":"x"}]}`: "tools.0.type",
		`{"model":"m","max_tokens":5,"stop_sequences":["a","b","c","d","e"],"messages":[{"role":"user","content":"x"}]}`:              "stop_sequences",
		`{"model":"m","max_tokens":5,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"x"}]}`:  "thinking",
	} {
		_, err := decodeMessages([]byte(body), false)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(string(ae.AnthropicBody()), field) {
			t.Errorf("%s: %v, want a 400 naming %s", body, err, field)
		}
	}
}
