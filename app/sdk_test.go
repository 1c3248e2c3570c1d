package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// The official OpenAI Go SDK works against Bulwark unchanged.
func sdk(ts *testServer) openai.Client {
	return openai.NewClient(option.WithBaseURL(ts.url+"/v1"), option.WithAPIKey(testAdminKey), option.WithMaxRetries(0))
}

func TestSDKChat(t *testing.T) {
	ts := start(t, fastConfig)
	c := sdk(ts)
	res, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "chat",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("hello")},
		Seed:     openai.Int(7),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Model != "fast-chat" {
		t.Errorf("model = %q, want the model that answered (fast-chat)", res.Model)
	}
	if len(res.Choices) != 1 || res.Choices[0].Message.Content == "" || res.Choices[0].FinishReason == "" {
		t.Errorf("unexpected choices: %+v", res.Choices)
	}
	if res.Usage.PromptTokens == 0 || res.Usage.CompletionTokens == 0 {
		t.Errorf("usage missing: %+v", res.Usage)
	}
}

func TestSDKStream(t *testing.T) {
	ts := start(t, fastConfig)
	c := sdk(ts)
	stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "chat",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Choices) != 1 || acc.Choices[0].Message.Content == "" {
		t.Fatalf("no content accumulated: %+v", acc.ChatCompletion)
	}
	if acc.Usage.CompletionTokens != 5 {
		t.Errorf("usage completion_tokens = %d, want 5", acc.Usage.CompletionTokens)
	}
}

func TestSDKStreamCutIsAnError(t *testing.T) {
	ts := start(t, fastConfig)
	ts.do(t, "PUT", "/admin/v1/providers/fast/models/fast-chat/faults", `{"cut":{"rate":1,"after_tokens":2}}`)
	c := sdk(ts)
	stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:    "chat",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
	})
	for stream.Next() {
	}
	if stream.Err() == nil {
		t.Fatal("the SDK saw a cut stream as a complete answer")
	}
}

func TestSDKEmbeddings(t *testing.T) {
	ts := start(t, fastConfig)
	c := sdk(ts)
	for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
		res, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
			Model:          "embed",
			Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"first text", "second text", "third"}},
			EncodingFormat: format,
		})
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if len(res.Data) != 3 {
			t.Fatalf("%s: %d embeddings", format, len(res.Data))
		}
		for i, d := range res.Data {
			if int(d.Index) != i || len(d.Embedding) != 8 {
				t.Errorf("%s: item %d: index %d, %d dims", format, i, d.Index, len(d.Embedding))
			}
		}
		if res.Usage.PromptTokens == 0 {
			t.Errorf("%s: usage missing", format)
		}
	}
	// Float and base64 carry the same vectors.
	f, _ := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{Model: "embed", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("same")}, EncodingFormat: openai.EmbeddingNewParamsEncodingFormatFloat})
	b, _ := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{Model: "embed", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("same")}, EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64})
	for i := range f.Data[0].Embedding {
		if float32(f.Data[0].Embedding[i]) != float32(b.Data[0].Embedding[i]) {
			t.Fatalf("float and base64 differ at %d: %v vs %v", i, f.Data[0].Embedding[i], b.Data[0].Embedding[i])
		}
	}
}

func TestSDKModelsAndErrors(t *testing.T) {
	ts := start(t, fastConfig)
	c := sdk(ts)
	var ids []string
	iter := c.Models.ListAutoPaging(context.Background())
	for iter.Next() {
		ids = append(ids, iter.Current().ID)
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, ",") != "chat,embed,local-embed,sim-chat,sim-embed,slow" {
		t.Errorf("models = %v", ids)
	}
	_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "missing", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
		t.Fatalf("unknown model: %v", err)
	}
}

// An OpenAI-compatible upstream receives the client's body untouched but
// for the model: tools, response_format, logprobs and fields Bulwark has
// never heard of all arrive.
func TestForwardsUnknownFieldsUntouched(t *testing.T) {
	var mu sync.Mutex
	var got map[string]json.RawMessage
	var gotAuth string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		_ = json.Unmarshal(b, &got)
		gotAuth = r.Header.Get("Authorization")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"upstream-model-2024","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}`)
	}))
	defer upstream.Close()
	t.Setenv("UPSTREAM_KEY", "sk-upstream-secret")
	ts := start(t, `
log: {level: warn}
providers:
  lab: {type: openai, base_url: `+upstream.URL+`/v1, api_key: "${UPSTREAM_KEY}"}
models:
  - name: chat
    targets: [{provider: lab, model: upstream-model}]
`)
	c := sdk(ts)
	res, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "chat",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Oslo?")},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name:       "get_weather",
			Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
		})},
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}},
		Logprobs:       openai.Bool(true),
		N:              openai.Int(1),
		Stop:           openai.ChatCompletionNewParamsStopUnion{OfString: openai.String("END")},
		Temperature:    openai.Float(0.2),
		User:           openai.String("end-user-1"),
	}, option.WithJSONSet("x_vendor_extension", map[string]any{"keep": true}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Model != "upstream-model-2024" || res.Choices[0].Message.ToolCalls[0].Function.Name != "get_weather" {
		t.Errorf("response not relayed as the upstream sent it: %+v", res)
	}
	mu.Lock()
	defer mu.Unlock()
	if string(got["model"]) != `"upstream-model"` {
		t.Errorf("upstream model = %s", got["model"])
	}
	for _, f := range []string{"tools", "response_format", "logprobs", "n", "stop", "temperature", "user", "x_vendor_extension"} {
		if _, ok := got[f]; !ok {
			t.Errorf("field %q was not forwarded; upstream got %v", f, got)
		}
	}
	if string(got["x_vendor_extension"]) != `{"keep":true}` {
		t.Errorf("unknown field altered: %s", got["x_vendor_extension"])
	}
	if gotAuth != "Bearer sk-upstream-secret" {
		t.Errorf("upstream auth = %q", gotAuth)
	}
}
