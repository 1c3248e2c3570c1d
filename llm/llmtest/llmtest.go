package llmtest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

// Env is one provider under test.
type Env struct {
	Provider llm.Provider
	// ChatModel and EmbedModel are models the provider serves. An empty
	// EmbedModel says the vendor has no embeddings: the embedding cases
	// then check only that Embed refuses as a bad request.
	ChatModel  string
	EmbedModel string
	// SmallContextModel is a chat model whose context window is small (say
	// 64 tokens); empty skips the context-length case.
	SmallContextModel string
	// SetFaults replaces the injected faults of a model; nil skips the fault
	// cases. The suite resets a model's faults after each case.
	SetFaults func(model string, f config.Faults)
}

// callTimeout bounds every call the suite makes, so that a provider that
// hangs fails the test instead of stalling it.
const callTimeout = 15 * time.Second

// clientAlias is the model the client's body names. Providers must send
// ChatRequest.Model instead, so an upstream that sees it fails the call.
const clientAlias = "llmtest-client-alias"

// Run runs the conformance suite. newEnv is called once per case, so that
// cases do not share state unless the environment chooses to.
func Run(t *testing.T, newEnv func(t *testing.T) Env) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, e Env)
	}{
		{"Chat", testChat},
		{"ChatUnknownFields", testChatUnknownFields},
		{"Stream", testStream},
		{"StreamUnknownFields", testStreamUnknownFields},
		{"StreamCanceled", testStreamCanceled},
		{"Embed", testEmbed},
		{"EmbedBase64", testEmbedBase64},
		{"UnknownModel", testUnknownModel},
		{"ContextLength", testContextLength},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newEnv(t)) })
	}
	for _, c := range faultCases {
		t.Run("Faults/"+c.name, func(t *testing.T) {
			e := newEnv(t)
			if e.SetFaults == nil {
				t.Skip("the environment cannot inject faults")
			}
			model := e.ChatModel
			e.SetFaults(model, c.faults)
			t.Cleanup(func() { e.SetFaults(model, config.Faults{}) })
			c.check(t, e)
		})
	}
}

// ctx returns a context for one call, canceled when the test ends.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), callTimeout)
	t.Cleanup(cancel)
	return c
}

// ChatRequest returns a request as the API layer decodes it: typed fields
// and the client's body (which names clientAlias as the model, plus extra).
func ChatRequest(model, prompt string, maxTokens int, stream bool, extra map[string]any) *llm.ChatRequest {
	body := map[string]any{
		"model":      clientAlias,
		"messages":   []map[string]string{{"role": "user", "content": prompt}},
		"max_tokens": maxTokens,
	}
	if stream {
		body["stream"] = true
		body["stream_options"] = map[string]bool{"include_usage": true}
	}
	for k, v := range extra {
		body[k] = v
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	return &llm.ChatRequest{
		Model:        model,
		Messages:     []llm.Message{{Role: "user", Content: prompt}},
		Stream:       stream,
		IncludeUsage: stream,
		MaxTokens:    maxTokens,
		Body:         b,
	}
}

// EmbedRequest returns an embeddings request as the API layer decodes it.
func EmbedRequest(model string, input []string, extra map[string]any) *llm.EmbedRequest {
	body := map[string]any{"model": clientAlias, "input": input}
	for k, v := range extra {
		body[k] = v
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	return &llm.EmbedRequest{Model: model, Input: input, Body: b}
}

// asError checks that err is an *llm.Error about model and returns it.
func asError(t *testing.T, err error, model string) *llm.Error {
	t.Helper()
	if err == nil {
		t.Fatal("got no error")
	}
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *llm.Error", err, err)
	}
	if e.Model != model {
		t.Errorf("error names model %q, want %q", e.Model, model)
	}
	_ = e.Error()
	return e
}

// wantKind checks that err is an *llm.Error of kind k about model.
func wantKind(t *testing.T, err error, model string, k llm.Kind) *llm.Error {
	t.Helper()
	e := asError(t, err, model)
	if e.Kind != k {
		t.Fatalf("error kind %s, want %s (error: %v)", e.Kind, k, err)
	}
	return e
}

// noError fails the test if err is not nil, checking first that it is an
// *llm.Error.
func noError(t *testing.T, err error, model, what string) {
	t.Helper()
	if err != nil {
		asError(t, err, model)
		t.Fatalf("%s: %v", what, err)
	}
}

// drain reads s to its end and returns its chunks and the error that ended
// it (io.EOF for a proper end).
func drain(t *testing.T, s llm.Stream) ([]*llm.Chunk, error) {
	t.Helper()
	var chunks []*llm.Chunk
	for range 100000 {
		ch, err := s.Recv()
		if err != nil {
			return chunks, err
		}
		if ch == nil {
			t.Fatal("Recv returned a nil chunk and a nil error")
		}
		chunks = append(chunks, ch)
	}
	t.Fatal("stream did not end after 100000 chunks")
	return nil, nil
}

// wireChunk is the part of a chat.completion.chunk the suite checks.
type wireChunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *llm.Usage `json:"usage"`
}

// checkChunks checks the shape and order of a stream's chunks and returns
// the text they carry.
func checkChunks(t *testing.T, chunks []*llm.Chunk) string {
	t.Helper()
	var text strings.Builder
	var id string
	finished, usage := false, false
	for i, ch := range chunks {
		var w wireChunk
		if err := json.Unmarshal(ch.Data, &w); err != nil {
			t.Fatalf("chunk %d: Data is not JSON: %v: %q", i, err, ch.Data)
		}
		if w.Object != "" && w.Object != "chat.completion.chunk" {
			t.Errorf("chunk %d: object %q, want chat.completion.chunk", i, w.Object)
		}
		if id == "" {
			id = w.ID
		} else if w.ID != "" && w.ID != id {
			t.Errorf("chunk %d: id %q, earlier chunks had %q", i, w.ID, id)
		}
		if ch.HasContent && usage {
			t.Errorf("chunk %d carries content after the usage chunk", i)
		}
		content := false
		for _, c := range w.Choices {
			text.WriteString(c.Delta.Content)
			if finished && c.Delta.Content != "" {
				t.Errorf("chunk %d carries content after the finish reason", i)
			}
			if c.Delta.Content != "" || c.Delta.Role != "" {
				content = true
			}
			if c.FinishReason != nil && *c.FinishReason != "" {
				content = true
				if ch.FinishReason != *c.FinishReason {
					t.Errorf("chunk %d: FinishReason %q, Data says %q", i, ch.FinishReason, *c.FinishReason)
				}
			}
		}
		for _, c := range w.Choices {
			if c.FinishReason != nil && *c.FinishReason != "" {
				finished = true
			}
		}
		if content != ch.HasContent {
			t.Errorf("chunk %d: HasContent %v, Data says %v: %s", i, ch.HasContent, content, ch.Data)
		}
		if ch.Usage != nil {
			usage = true
		}
	}
	return text.String()
}

func testChat(t *testing.T, e Env) {
	resp, err := e.Provider.Chat(ctx(t), ChatRequest(e.ChatModel, "Say hello to the conformance suite.", 16, false, nil))
	noError(t, err, e.ChatModel, "Chat")
	checkChatResponse(t, resp)
}

func checkChatResponse(t *testing.T, resp *llm.ChatResponse) {
	t.Helper()
	if len(resp.Body) == 0 {
		t.Fatal("empty Body")
	}
	var w struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Model   string `json:"model"`
		Choices []struct {
			Message struct {
				Role    string  `json:"role"`
				Content *string `json:"content"`
			} `json:"message"`
			FinishReason *string `json:"finish_reason"`
		} `json:"choices"`
		Usage *llm.Usage `json:"usage"`
	}
	if err := json.Unmarshal(resp.Body, &w); err != nil {
		t.Fatalf("Body is not JSON: %v: %q", err, resp.Body)
	}
	if w.Object != "chat.completion" {
		t.Errorf("object %q, want chat.completion", w.Object)
	}
	if len(w.Choices) == 0 {
		t.Fatalf("no choices: %s", resp.Body)
	}
	if c := w.Choices[0].Message; c.Role != "assistant" || c.Content == nil || *c.Content == "" {
		t.Errorf("choices[0].message: role %q, content %v; want an assistant's text", c.Role, c.Content)
	}
	if resp.Model == "" || resp.Model != w.Model {
		t.Errorf("Model %q, body says %q", resp.Model, w.Model)
	}
	if len(resp.FinishReasons) != len(w.Choices) {
		t.Fatalf("%d FinishReasons for %d choices", len(resp.FinishReasons), len(w.Choices))
	}
	for i, c := range w.Choices {
		if c.FinishReason == nil || *c.FinishReason == "" || *c.FinishReason != resp.FinishReasons[i] {
			t.Errorf("FinishReasons[%d] = %q, body says %v", i, resp.FinishReasons[i], c.FinishReason)
		}
	}
	u := resp.Usage
	if u.PromptTokens <= 0 || u.CompletionTokens <= 0 || u.TotalTokens < u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage %+v, want positive prompt and completion tokens and their total", u)
	}
	if w.Usage == nil || w.Usage.PromptTokens != u.PromptTokens || w.Usage.CompletionTokens != u.CompletionTokens {
		t.Errorf("Usage %+v, body says %+v", u, w.Usage)
	}
}

// unknownFields are request fields Bulwark does not interpret; an upstream
// must receive them.
var unknownFields = map[string]any{
	"temperature":       0.2,
	"top_p":             0.9,
	"presence_penalty":  0,
	"frequency_penalty": 0,
	"logit_bias":        map[string]int{},
	"response_format":   map[string]string{"type": "text"},
	"seed":              7,
	"user":              "llmtest",
	"n":                 1,
	"logprobs":          false,
}

func testChatUnknownFields(t *testing.T, e Env) {
	resp, err := e.Provider.Chat(ctx(t), ChatRequest(e.ChatModel, "Say hello.", 16, false, unknownFields))
	noError(t, err, e.ChatModel, "Chat")
	checkChatResponse(t, resp)
}

func testStream(t *testing.T, e Env) {
	s, err := e.Provider.Stream(ctx(t), ChatRequest(e.ChatModel, "Count from one to ten.", 24, true, nil))
	noError(t, err, e.ChatModel, "Stream")
	defer s.Close()
	chunks, err := drain(t, s)
	if err != io.EOF {
		asError(t, err, e.ChatModel)
		t.Fatalf("stream ended with %v after %d chunks, want io.EOF", err, len(chunks))
	}
	checkStream(t, chunks)
	for range 2 {
		if ch, err := s.Recv(); ch != nil || err != io.EOF {
			t.Errorf("Recv after the end = %v, %v; want nil, io.EOF", ch, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// checkStream checks a properly ended stream: content, a finish reason,
// then usage.
func checkStream(t *testing.T, chunks []*llm.Chunk) {
	t.Helper()
	if len(chunks) == 0 {
		t.Fatal("no chunks")
	}
	if text := checkChunks(t, chunks); text == "" {
		t.Error("the stream carried no text")
	}
	finish, usage := -1, -1
	for i, ch := range chunks {
		if ch.FinishReason != "" && finish < 0 {
			finish = i
		}
		if ch.Usage != nil {
			usage = i
		}
	}
	if finish < 0 {
		t.Error("no chunk carried a finish reason")
	}
	if usage < 0 {
		t.Fatal("no usage chunk")
	}
	if usage < finish {
		t.Errorf("usage chunk %d comes before the finish reason (chunk %d)", usage, finish)
	}
	if u := chunks[usage].Usage; u.PromptTokens <= 0 || u.CompletionTokens <= 0 || u.TotalTokens < u.PromptTokens+u.CompletionTokens {
		t.Errorf("stream usage %+v, want positive prompt and completion tokens and their total", *u)
	}
	if chunks[0].Model == "" {
		t.Error("first chunk has no Model")
	}
}

func testStreamUnknownFields(t *testing.T, e Env) {
	extra := map[string]any{"stream_options": map[string]bool{"include_usage": false}}
	for k, v := range unknownFields {
		extra[k] = v
	}
	// The client asked for no usage; the provider still asks its upstream.
	s, err := e.Provider.Stream(ctx(t), ChatRequest(e.ChatModel, "Say hello.", 16, true, extra))
	noError(t, err, e.ChatModel, "Stream")
	defer s.Close()
	chunks, err := drain(t, s)
	if err != io.EOF {
		asError(t, err, e.ChatModel)
		t.Fatalf("stream ended with %v, want io.EOF", err)
	}
	checkStream(t, chunks)
}

func testStreamCanceled(t *testing.T, e Env) {
	c, cancel := context.WithCancel(ctx(t))
	defer cancel()
	s, err := e.Provider.Stream(c, ChatRequest(e.ChatModel, "Tell a long story about a lighthouse.", 64, true, nil))
	noError(t, err, e.ChatModel, "Stream")
	defer s.Close()
	if _, err := s.Recv(); err != nil {
		asError(t, err, e.ChatModel)
		t.Fatalf("first Recv: %v", err)
	}
	cancel()
	start := time.Now()
	_, err = s.Recv()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Recv took %v after the context was canceled", d)
	}
	wantKind(t, err, e.ChatModel, llm.KindCanceled)
	if _, err := s.Recv(); err == nil {
		t.Error("Recv after a canceled Recv returned no error")
	}
	_ = s.Close()
	_ = s.Close()
}

// embedInputs are distinct texts for the embeddings cases.
var embedInputs = []string{
	"The quick brown fox jumps over the lazy dog.",
	"Bulwark keeps generative AI applications up when their models fail.",
	"A lighthouse keeper counts the ships that pass at night.",
	"Photosynthesis turns sunlight, water and carbon dioxide into sugar.",
}

func testEmbed(t *testing.T, e Env) {
	if e.EmbedModel == "" {
		_, err := e.Provider.Embed(ctx(t), EmbedRequest(e.ChatModel, embedInputs, nil))
		wantKind(t, err, e.ChatModel, llm.KindBadRequest)
		return
	}
	batch := embed(t, e, embedInputs, nil)
	// In order: each batch vector is closest to the vector of its own input
	// embedded alone.
	single := make([][]float32, len(embedInputs))
	for i, in := range embedInputs {
		single[i] = embed(t, e, []string{in}, nil)[0]
	}
	for i := range batch {
		best, bestSim := -1, math.Inf(-1)
		for j := range single {
			if s := cosine(batch[i], single[j]); s > bestSim {
				best, bestSim = j, s
			}
		}
		if best != i {
			t.Errorf("vector %d is closest to input %d's; the vectors are out of order", i, best)
		}
	}
}

func testEmbedBase64(t *testing.T, e Env) {
	if e.EmbedModel == "" {
		t.Skip("the vendor has no embeddings")
	}
	floats := embed(t, e, embedInputs[:2], map[string]any{"encoding_format": "float"})
	b64 := embed(t, e, embedInputs[:2], map[string]any{"encoding_format": "base64"})
	for i := range floats {
		if s := cosine(floats[i], b64[i]); len(floats[i]) != len(b64[i]) || s < 0.99 {
			t.Errorf("vector %d: base64 and float forms differ (dims %d and %d, cosine %.4f)", i, len(b64[i]), len(floats[i]), s)
		}
	}
}

// embed embeds input and checks the response's shape.
func embed(t *testing.T, e Env, input []string, extra map[string]any) [][]float32 {
	t.Helper()
	resp, err := e.Provider.Embed(ctx(t), EmbedRequest(e.EmbedModel, input, extra))
	noError(t, err, e.EmbedModel, "Embed")
	if len(resp.Vectors) != len(input) {
		t.Fatalf("%d vectors for %d inputs", len(resp.Vectors), len(input))
	}
	dim := len(resp.Vectors[0])
	for i, v := range resp.Vectors {
		if len(v) == 0 || len(v) != dim {
			t.Fatalf("vector %d has %d dimensions, vector 0 has %d", i, len(v), dim)
		}
		if norm(v) == 0 {
			t.Errorf("vector %d is zero", i)
		}
	}
	if resp.Model == "" {
		t.Error("no Model")
	}
	if resp.Usage.PromptTokens <= 0 {
		t.Errorf("usage %+v, want positive prompt tokens", resp.Usage)
	}
	return resp.Vectors
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func cosine(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(-1)
	}
	var dot float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
	}
	return dot / (norm(a) * norm(b))
}

// unknownModel is a model no provider serves.
const unknownModel = "llmtest-no-such-model"

func testUnknownModel(t *testing.T, e Env) {
	_, err := e.Provider.Chat(ctx(t), ChatRequest(unknownModel, "Hello?", 8, false, nil))
	wantKind(t, err, unknownModel, llm.KindNotFound)

	s, err := e.Provider.Stream(ctx(t), ChatRequest(unknownModel, "Hello?", 8, true, nil))
	if err == nil {
		s.Close()
		t.Fatal("Stream of an unknown model returned a stream; the error belongs to Stream itself")
	}
	wantKind(t, err, unknownModel, llm.KindNotFound)

	if e.EmbedModel != "" {
		_, err = e.Provider.Embed(ctx(t), EmbedRequest(unknownModel, []string{"hello"}, nil))
		wantKind(t, err, unknownModel, llm.KindNotFound)
	}
}

func testContextLength(t *testing.T, e Env) {
	if e.SmallContextModel == "" {
		t.Skip("the environment has no small-context model")
	}
	prompt := strings.Repeat("The prompt that does not fit goes on and on. ", 400)
	_, err := e.Provider.Chat(ctx(t), ChatRequest(e.SmallContextModel, prompt, 8, false, nil))
	ce := wantKind(t, err, e.SmallContextModel, llm.KindContextLength)
	if ce.Kind.Retryable() {
		t.Error("a context-length error is retryable")
	}

	s, err := e.Provider.Stream(ctx(t), ChatRequest(e.SmallContextModel, prompt, 8, true, nil))
	if err == nil {
		s.Close()
		t.Fatal("Stream of a too-long prompt returned a stream; the error belongs to Stream itself")
	}
	wantKind(t, err, e.SmallContextModel, llm.KindContextLength)
}
