package gemini

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

// chatCompletion is the part of a chat.completion the tests read.
type chatCompletion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Role      string  `json:"role"`
			Content   *string `json:"content"`
			ToolCalls []struct {
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
		Details          struct {
			CachedTokens int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	} `json:"usage"`
}

func TestChatResponse(t *testing.T) {
	body := `{"candidates":[{"content":{"role":"model","parts":[
	    {"text":"thinking…","thought":true},{"text":"Hello, "},{"text":"world."}]},
	  "finishReason":"STOP","index":0,"safetyRatings":[]}],
	  "usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":4,"thoughtsTokenCount":6,"totalTokenCount":20,"cachedContentTokenCount":3},
	  "modelVersion":"gemini-2.5-flash-001","responseId":"abc123"}`
	c, f := newFake(t, 200, "", body)
	resp, err := c.Chat(t.Context(), chatReq("gemini-2.5-flash", false))
	if err != nil {
		t.Fatal(err)
	}
	var w chatCompletion
	if err := json.Unmarshal(resp.Body, &w); err != nil {
		t.Fatal(err)
	}
	m := w.Choices[0].Message
	if w.Object != "chat.completion" || w.ID != "chatcmpl-abc123" || w.Model != "gemini-2.5-flash-001" || m.Role != "assistant" ||
		m.Content == nil || *m.Content != "Hello, world." || w.Choices[0].FinishReason != "stop" {
		t.Errorf("body %s", resp.Body)
	}
	want := llm.Usage{PromptTokens: 10, CompletionTokens: 10, TotalTokens: 20, CachedTokens: 3}
	if resp.Usage != want || resp.Model != "gemini-2.5-flash-001" || len(resp.FinishReasons) != 1 || resp.FinishReasons[0] != "stop" {
		t.Errorf("response %+v", resp)
	}
	if w.Usage.CompletionTokens != 10 || w.Usage.Details.CachedTokens != 3 {
		t.Errorf("body usage %+v", w.Usage)
	}

	r := f.last(t)
	if r.path != "/v1beta/models/gemini-2.5-flash:generateContent" || r.query != "" {
		t.Errorf("request %s?%s", r.path, r.query)
	}
	if r.header.Get("X-Goog-Api-Key") != testKey || r.header.Get("X-Extra") != "1" || r.header.Get("Authorization") != "" {
		t.Errorf("headers %v", r.header)
	}
}

func TestChatFunctionCalls(t *testing.T) {
	body := `{"candidates":[{"content":{"role":"model","parts":[
	    {"functionCall":{"name":"get_weather","args":{"city": "Paris"}}},
	    {"functionCall":{"id":"fc-7","name":"get_time"}}]},"finishReason":"STOP","index":0}],
	  "usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":7,"totalTokenCount":12}}`
	c, _ := newFake(t, 200, "", body)
	resp, err := c.Chat(t.Context(), chatReq("m", false))
	if err != nil {
		t.Fatal(err)
	}
	var w chatCompletion
	if err := json.Unmarshal(resp.Body, &w); err != nil {
		t.Fatal(err)
	}
	ch := w.Choices[0]
	if ch.FinishReason != "tool_calls" || len(ch.Message.ToolCalls) != 2 {
		t.Fatalf("body %s", resp.Body)
	}
	tc := ch.Message.ToolCalls
	if !strings.HasPrefix(tc[0].ID, "call_") || tc[0].Type != "function" || tc[0].Function.Name != "get_weather" || tc[0].Function.Arguments != `{"city":"Paris"}` {
		t.Errorf("call 0: %+v", tc[0])
	}
	if tc[1].ID != "fc-7" || tc[1].Function.Arguments != "{}" {
		t.Errorf("call 1: %+v", tc[1])
	}
	if w.Model != "m" || !strings.HasPrefix(w.ID, "chatcmpl-") || len(w.ID) < 20 {
		t.Errorf("model %q id %q", w.Model, w.ID)
	}
}

func TestFinishReasons(t *testing.T) {
	for reason, want := range map[string]string{
		"STOP": "stop", "": "stop", "OTHER": "stop", "LANGUAGE": "stop", "MAX_TOKENS": "length",
		"SAFETY": "content_filter", "RECITATION": "content_filter", "PROHIBITED_CONTENT": "content_filter",
		"BLOCKLIST": "content_filter", "SPII": "content_filter", "IMAGE_SAFETY": "content_filter",
		"MALFORMED_FUNCTION_CALL": "", "UNEXPECTED_TOOL_CALL": "",
	} {
		body := `{"candidates":[{"content":{"role":"model","parts":[{"text":"x"}]},"finishReason":"` + reason + `"}]}`
		c, _ := newFake(t, 200, "", body)
		resp, err := c.Chat(t.Context(), chatReq("m", false))
		if want == "" {
			if e := asError(t, err); e.Kind != llm.KindServer || e.Code != reason || !e.Kind.Retryable() {
				t.Errorf("%s: %+v", reason, e)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", reason, err)
			continue
		}
		if resp.FinishReasons[0] != want {
			t.Errorf("%s: finish %q, want %q", reason, resp.FinishReasons[0], want)
		}
	}
	if got, _ := finish("STOP", true); got != "tool_calls" {
		t.Errorf("STOP with calls: %q", got)
	}
	if got, _ := finish("MAX_TOKENS", true); got != "length" {
		t.Errorf("MAX_TOKENS with calls: %q", got)
	}
}

func TestChatBlockedAndBroken(t *testing.T) {
	cases := []struct {
		name, body string
		kind       llm.Kind
	}{
		{"blocked", `{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":3}}`, llm.KindContentFilter},
		{"no candidates", `{"usageMetadata":{"promptTokenCount":3}}`, llm.KindServer},
		{"not json", `{"candidates":[`, llm.KindServer},
		{"error object", `{"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}`, llm.KindOverloaded},
	}
	for _, c := range cases {
		cl, _ := newFake(t, 200, "", c.body)
		_, err := cl.Chat(t.Context(), chatReq("m", false))
		if e := asError(t, err); e.Kind != c.kind || e.Model != "m" {
			t.Errorf("%s: %+v", c.name, e)
		}
	}
	cl, _ := newFake(t, 200, "", `{"promptFeedback":{"blockReason":"SAFETY"}}`)
	_, err := cl.Chat(t.Context(), chatReq("m", false))
	if e := asError(t, err); e.Code != "SAFETY" || e.Kind.Retryable() {
		t.Errorf("blocked: %+v", e)
	}
}
