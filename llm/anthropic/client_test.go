package anthropic

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
)

// upstream serves h and returns a client of it.
func upstream(t *testing.T, h http.HandlerFunc, o Options) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	o.BaseURL = srv.URL
	return testClient(t, o)
}

var helloReq = &llm.ChatRequest{Model: "claude-test", Body: []byte(`{"messages":[{"role":"user","content":"Hi"}]}`)}

func TestHeadersAndURL(t *testing.T) {
	var got http.Header
	var path string
	h := func(w http.ResponseWriter, r *http.Request) {
		got, path = r.Header.Clone(), r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"Hi."}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":2}}`)
	}
	for _, base := range []string{"", "/", "/v1", "/v1/"} {
		srv := httptest.NewServer(http.HandlerFunc(h))
		c := testClient(t, Options{BaseURL: srv.URL + base, APIKey: "sk-ant-key", Headers: map[string]string{"Anthropic-Beta": "x"}})
		resp, err := c.Chat(t.Context(), helloReq)
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if path != "/v1/messages" || got.Get("X-Api-Key") != "sk-ant-key" || got.Get("Anthropic-Version") != "2023-06-01" ||
			got.Get("Anthropic-Beta") != "x" || got.Get("Authorization") != "" {
			t.Errorf("base %q: path %s, headers %v", base, path, got)
		}
		if resp.Model != "claude-x" || resp.FinishReasons[0] != "stop" || resp.Usage.PromptTokens != 3 {
			t.Errorf("response %+v", resp)
		}
	}
	c := testClient(t, Options{Version: "2099-01-01"})
	if c.header.Get("Anthropic-Version") != "2099-01-01" || c.url != "https://api.anthropic.com/v1/messages" {
		t.Errorf("version %q, url %q", c.header.Get("Anthropic-Version"), c.url)
	}
	for _, bad := range []string{"ftp://x", "http://", "://x", "http://x?a=b"} {
		if _, err := New(Options{BaseURL: bad}); err == nil {
			t.Errorf("New accepted base url %q", bad)
		}
	}
}

func TestDecodeMessage(t *testing.T) {
	c := testClient(t, Options{})
	b := `{"id":"msg_9","type":"message","role":"assistant","model":"claude-x",
	  "content":[{"type":"thinking","thinking":"hmm"},{"type":"text","text":"Let me check. "},{"type":"tool_use","id":"toolu_1","name":"weather","input":{"city": "Paris"}},{"type":"text","text":"Done."}],
	  "stop_reason":"tool_use","stop_sequence":null,
	  "usage":{"input_tokens":100,"cache_read_input_tokens":50,"cache_creation_input_tokens":25,"output_tokens":7}}`
	comp, err := c.decodeMessage([]byte(b), "claude-test")
	if err != nil {
		t.Fatal(err)
	}
	resp := comp.Response()
	var w struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Choices []struct {
			Message struct {
				Content   string `json:"content"`
				ToolCalls []struct {
					ID       string `json:"id"`
					Function struct {
						Name, Arguments string
					} `json:"function"`
				} `json:"tool_calls"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(resp.Body, &w); err != nil {
		t.Fatal(err)
	}
	m := w.Choices[0].Message
	if w.ID != "chatcmpl-msg_9" || w.Object != "chat.completion" || m.Content != "Let me check. Done." || len(m.ToolCalls) != 1 ||
		m.ToolCalls[0].ID != "toolu_1" || m.ToolCalls[0].Function.Name != "weather" || m.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` ||
		w.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("body %s", resp.Body)
	}
	if resp.Usage != (llm.Usage{PromptTokens: 175, CompletionTokens: 7, TotalTokens: 182, CachedTokens: 50, CacheWriteTokens: 25}) {
		t.Errorf("usage %+v", resp.Usage)
	}

	for stop, want := range map[string]string{"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls", "refusal": "content_filter", "": "stop"} {
		comp, err := c.decodeMessage([]byte(`{"id":"m","type":"message","content":[{"type":"text","text":"x"}],"stop_reason":"`+stop+`"}`), "claude-test")
		if err != nil || comp.Response().FinishReasons[0] != want || comp.Model != "claude-test" {
			t.Errorf("%q: %v %+v", stop, err, comp)
		}
	}
	for body, kind := range map[string]llm.Kind{
		`not json`:              llm.KindServer,
		`{"type":"completion"}`: llm.KindServer,
		`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`: llm.KindOverloaded,
	} {
		_, err := c.decodeMessage([]byte(body), "claude-test")
		if llm.KindOf(err) != kind {
			t.Errorf("%s: %v, want %s", body, err, kind)
		}
	}
}

func TestStatusErrors(t *testing.T) {
	for _, tc := range []struct {
		status     int
		body       string
		header     string
		kind       llm.Kind
		retryAfter time.Duration
	}{
		{400, `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"}}`, "", llm.KindContextLength, 0},
		{400, `{"type":"error","error":{"type":"invalid_request_error","message":"input length and ` + "`max_tokens`" + ` exceed context limit: 198000 + 8192 > 200000"}}`, "", llm.KindContextLength, 0},
		{400, `{"type":"error","error":{"type":"invalid_request_error","message":"Output blocked by content filtering policy"}}`, "", llm.KindContentFilter, 0},
		{400, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}`, "", llm.KindBadRequest, 0},
		{401, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`, "", llm.KindAuth, 0},
		{403, `{"type":"error","error":{"type":"permission_error","message":"no"}}`, "", llm.KindAuth, 0},
		{404, `{"type":"error","error":{"type":"not_found_error","message":"model: claude-nope"}}`, "", llm.KindNotFound, 0},
		{413, `{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}`, "", llm.KindBadRequest, 0},
		{429, `{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your rate limit."}}`, "7", llm.KindRateLimited, 7 * time.Second},
		{500, `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`, "", llm.KindServer, 0},
		{503, `upstream connect error`, "", llm.KindOverloaded, 0},
		{529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, "", llm.KindOverloaded, 0},
		{504, ``, "", llm.KindTimeout, 0},
	} {
		c := upstream(t, func(w http.ResponseWriter, r *http.Request) {
			if tc.header != "" {
				w.Header().Set("Retry-After", tc.header)
			}
			w.WriteHeader(tc.status)
			io.WriteString(w, tc.body)
		}, Options{APIKey: "sk-ant-key"})
		_, cerr := c.Chat(t.Context(), helloReq)
		_, serr := c.Stream(t.Context(), helloReq)
		for _, err := range []error{cerr, serr} {
			var le *llm.Error
			if !errors.As(err, &le) || le.Kind != tc.kind || le.Status != tc.status || le.RetryAfter != tc.retryAfter ||
				le.Provider != "anth" || le.Model != "claude-test" || le.Message == "" {
				t.Errorf("%d %s: %v (%+v)", tc.status, tc.body, err, le)
			}
		}
	}
}

func TestKeyNeverShown(t *testing.T) {
	const key = "sk-ant-very-secret-key"
	c := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		fmt.Fprintf(w, `{"type":"error","error":{"type":"authentication_error","message":"bad key %s"}}`, r.Header.Get("X-Api-Key"))
	}, Options{APIKey: key})
	_, err := c.Chat(t.Context(), helloReq)
	if err == nil || strings.Contains(err.Error(), key) || llm.KindOf(err) != llm.KindAuth {
		t.Errorf("error %v", err)
	}
	o := Options{Name: "anth", APIKey: key}
	var buf strings.Builder
	slog.New(slog.NewTextHandler(&buf, nil)).Info("provider", "options", o)
	for _, s := range []string{o.String(), fmt.Sprintf("%v %+v %#v", o, o, o), buf.String(), c.String()} {
		if strings.Contains(s, key) {
			t.Errorf("the key shows in %q", s)
		}
	}
}

func TestStreamAnsweredWithJSON(t *testing.T) {
	c := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
	}, Options{})
	if _, err := c.Stream(t.Context(), helloReq); llm.KindOf(err) != llm.KindOverloaded {
		t.Errorf("Stream: %v", err)
	}
}

func TestEmbedRefused(t *testing.T) {
	c := testClient(t, Options{})
	_, err := c.Embed(t.Context(), &llm.EmbedRequest{Model: "claude-test", Input: []string{"x"}})
	var le *llm.Error
	if !errors.As(err, &le) || le.Kind != llm.KindBadRequest || le.Provider != "anth" || le.Model != "claude-test" {
		t.Errorf("Embed: %v", err)
	}
}

func TestErrorBodies(t *testing.T) {
	for body, want := range map[string]errorBody{
		`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}`: {Type: "overloaded_error", Message: "Overloaded"},
		`{"error":"plain"}`:                {Message: "plain"},
		`{"message":"top","type":"error"}`: {Message: "top"},
		`<html>bad gateway</html>`:         {Message: "<html>bad gateway</html>"},
		``:                                 {},
	} {
		if got := parseErrorBody([]byte(body)); got != want {
			t.Errorf("%s: %+v, want %+v", body, got, want)
		}
	}
}
