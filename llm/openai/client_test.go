package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

func TestChat(t *testing.T) {
	resp := readTestdata(t, "chat_response.json")
	u := newUpstream(t, serveBytes(200, "application/json", resp))
	c := u.client(t, func(o *Options) { o.Headers = map[string]string{"OpenAI-Organization": "org-1"} })
	req := &llm.ChatRequest{Model: "gpt-4o-mini-2024-07-18", Body: readTestdata(t, "chat_request.json")}

	got, err := c.Chat(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Body, resp) {
		t.Error("Body is not the upstream's bytes")
	}
	if got.Model != "gpt-4o-2024-08-06" {
		t.Errorf("Model %q", got.Model)
	}
	if want := []string{"stop", "tool_calls"}; fmt.Sprint(got.FinishReasons) != fmt.Sprint(want) {
		t.Errorf("FinishReasons %q, want %q", got.FinishReasons, want)
	}
	if want := (llm.Usage{PromptTokens: 1117, CompletionTokens: 46, TotalTokens: 1163, CachedTokens: 1024}); got.Usage != want {
		t.Errorf("Usage %+v, want %+v", got.Usage, want)
	}

	r := u.last(t)
	if r.Method != "POST" || r.Path != "/v1/chat/completions" || r.RawQuery != "" {
		t.Errorf("request %s %s?%s", r.Method, r.Path, r.RawQuery)
	}
	for k, want := range map[string]string{
		"Authorization":       "Bearer " + testKey,
		"Content-Type":        "application/json",
		"Accept":              "application/json",
		"Openai-Organization": "org-1",
		"Api-Key":             "",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	golden(t, "chat_request.upstream.json", r.Body)
}

func TestChatResponseVariants(t *testing.T) {
	for _, c := range []struct {
		name, body string
		reasons    []string
		usage      llm.Usage
	}{
		{"no usage", `{"model":"m","choices":[{"finish_reason":"length"}]}`, []string{"length"}, llm.Usage{}},
		{"null finish reason and float counts", `{"model":"m","choices":[{"finish_reason":null}],"usage":{"prompt_tokens":3.0,"completion_tokens":2,"total_tokens":null}}`,
			[]string{""}, llm.Usage{PromptTokens: 3, CompletionTokens: 2, TotalTokens: 5}},
		{"null details", `{"model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2,"prompt_tokens_details":null}}`,
			[]string{}, llm.Usage{PromptTokens: 1, CompletionTokens: 1, TotalTokens: 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := newUpstream(t, serveBytes(200, "application/json", []byte(c.body)))
			got, err := u.client(t).Chat(t.Context(), chatRequest("m", `{"messages":[]}`))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got.FinishReasons) != fmt.Sprint(c.reasons) || got.Usage != c.usage {
				t.Errorf("got %q %+v, want %q %+v", got.FinishReasons, got.Usage, c.reasons, c.usage)
			}
		})
	}
}

func TestChatBadAnswers(t *testing.T) {
	for _, c := range []struct {
		name, body string
		kind       llm.Kind
	}{
		{"not JSON", `<html>oops</html>`, llm.KindServer},
		{"error in a 200", `{"error":{"message":"The server had an error","type":"server_error"}}`, llm.KindServer},
		{"context error in a 200", `{"error":{"message":"too long","code":"context_length_exceeded"}}`, llm.KindContextLength},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := newUpstream(t, serveBytes(200, "application/json", []byte(c.body)))
			_, err := u.client(t).Chat(t.Context(), chatRequest("m", `{}`))
			if e := llmError(t, err, "m"); e.Kind != c.kind {
				t.Errorf("kind %s, want %s (%v)", e.Kind, c.kind, err)
			}
		})
	}
}

func TestNewRejectsBadBaseURL(t *testing.T) {
	for _, base := range []string{"", "api.openai.com/v1", "ftp://x/v1", "http://", "http://x/v1#frag", "http://[::1"} {
		if _, err := New(Options{Name: "p", BaseURL: base}); err == nil {
			t.Errorf("New accepted base url %q", base)
		}
	}
}

func TestURLs(t *testing.T) {
	for _, c := range []struct {
		base, version, model, path, want string
	}{
		{"https://api.openai.com/v1", "", "gpt-4o", "/chat/completions", "https://api.openai.com/v1/chat/completions"},
		{"https://api.openai.com/v1/", "", "gpt-4o", "/embeddings", "https://api.openai.com/v1/embeddings"},
		{"http://localhost:11434/v1?x=1", "", "llama3", "/chat/completions", "http://localhost:11434/v1/chat/completions?x=1"},
		{"https://res.openai.azure.com/openai/deployments/{model}", "2024-10-21", "gpt-4o-prod", "/chat/completions",
			"https://res.openai.azure.com/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21"},
		{"https://res.openai.azure.com/openai/deployments/{model}/", "2024-10-21", "a b/c", "/embeddings",
			"https://res.openai.azure.com/openai/deployments/a%20b%2Fc/embeddings?api-version=2024-10-21"},
		{"https://res.openai.azure.com/openai/v1", "preview", "gpt-4o", "/chat/completions",
			"https://res.openai.azure.com/openai/v1/chat/completions?api-version=preview"},
	} {
		cl, err := New(Options{Name: "p", BaseURL: c.base, APIVersion: c.version})
		if err != nil {
			t.Fatal(err)
		}
		if got := cl.url(c.path, c.model); got != c.want {
			t.Errorf("url(%s, %s, %s) = %s, want %s", c.base, c.path, c.model, got, c.want)
		}
	}
}

func TestAzure(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/embeddings") {
			serveBytes(200, "application/json", []byte(`{"data":[{"index":0,"embedding":[1,2]}],"model":"ada","usage":{"prompt_tokens":1,"total_tokens":1}}`))(w, r)
			return
		}
		serveBytes(200, "application/json", readTestdata(t, "chat_response.json"))(w, r)
	})
	c := u.client(t, func(o *Options) {
		o.BaseURL = u.URL + "/openai/deployments/{model}"
		o.APIVersion = "2024-10-21"
	})
	if _, err := c.Chat(t.Context(), chatRequest("gpt-4o-prod", `{"model":"alias","messages":[]}`)); err != nil {
		t.Fatal(err)
	}
	r := u.last(t)
	if r.Path != "/openai/deployments/gpt-4o-prod/chat/completions" || r.RawQuery != "api-version=2024-10-21" {
		t.Errorf("chat request %s?%s", r.Path, r.RawQuery)
	}
	if r.Header.Get("Api-Key") != testKey || r.Header.Get("Authorization") != "" {
		t.Errorf("headers api-key %q, authorization %q; want the key in api-key only", r.Header.Get("Api-Key"), r.Header.Get("Authorization"))
	}
	var body map[string]any
	_ = json.Unmarshal(r.Body, &body)
	if body["model"] != "gpt-4o-prod" {
		t.Errorf("body model %v", body["model"])
	}

	if _, err := c.Embed(t.Context(), &llm.EmbedRequest{Model: "ada-prod", Input: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if r := u.last(t); r.Path != "/openai/deployments/ada-prod/embeddings" || r.RawQuery != "api-version=2024-10-21" {
		t.Errorf("embeddings request %s?%s", r.Path, r.RawQuery)
	}
}

func TestNoKeyNoAuthorization(t *testing.T) {
	u := newUpstream(t, serveBytes(200, "application/json", readTestdata(t, "chat_response.json")))
	c := u.client(t, func(o *Options) { o.APIKey = "" })
	if _, err := c.Chat(t.Context(), chatRequest("m", `{}`)); err != nil {
		t.Fatal(err)
	}
	if h := u.last(t).Header; h.Get("Authorization") != "" || h.Get("Api-Key") != "" {
		t.Errorf("credentials sent without a key: %v", h)
	}
}

func TestKeyNeverShown(t *testing.T) {
	o := Options{Name: "up", BaseURL: "http://127.0.0.1:1/v1", APIKey: testKey, Headers: map[string]string{"X-Secret": "hdr-secret"}}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("provider", "options", o)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("provider", "options", o)
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	shown := []string{
		fmt.Sprint(o), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o), fmt.Sprintf("%v", &o),
		fmt.Sprint(c), fmt.Sprintf("%+v", c), logs.String(),
	}

	// An upstream that echoes the key, and an unreachable one.
	u := newUpstream(t, serveBytes(401, "application/json",
		[]byte(`{"error":{"message":"Incorrect API key provided: `+testKey+`.","type":"invalid_request_error","code":"invalid_api_key"}}`)))
	_, err = u.client(t).Chat(t.Context(), chatRequest("m", `{}`))
	if e := llmError(t, err, "m"); e.Kind != llm.KindAuth {
		t.Errorf("kind %s, want authentication", e.Kind)
	}
	shown = append(shown, err.Error(), fmt.Sprintf("%+v", err))
	_, err = c.Chat(t.Context(), chatRequest("m", `{}`))
	shown = append(shown, err.Error(), fmt.Sprintf("%+v", err))

	for _, s := range shown {
		if strings.Contains(s, testKey) || strings.Contains(s, "hdr-secret") {
			t.Errorf("a secret is shown: %s", s)
		}
	}
}
