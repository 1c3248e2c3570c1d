// Package surfacetest is the conformance suite of the built-in embedding
// models' provider surface (package surface): what every model of the
// local provider answers to a bad request, a chat request, an unknown
// model and a caller that has gone. Each model's package runs it.
package surfacetest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

// EmbedRequest builds an embedding request as the API layer decodes it.
func EmbedRequest(model string, input []string) *llm.EmbedRequest {
	body, _ := json.Marshal(map[string]any{"model": "client-alias", "input": input})
	return &llm.EmbedRequest{Model: model, Input: input, Body: body}
}

// ChatRequest builds a chat request as the API layer decodes it.
func ChatRequest(model string, stream bool) *llm.ChatRequest {
	msgs := []llm.Message{{Role: "user", Content: "Hello?"}}
	body, _ := json.Marshal(map[string]any{"model": "client-alias", "messages": msgs, "stream": stream})
	return &llm.ChatRequest{Model: model, Messages: msgs, Stream: stream, MaxTokens: 8, Body: body}
}

// WantKind fails t unless err is an *llm.Error of kind k about model from
// the provider "local", and returns it.
func WantKind(t *testing.T, err error, model string, k llm.Kind) *llm.Error {
	t.Helper()
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *llm.Error", err, err)
	}
	if e.Kind != k || e.Model != model || e.Provider != "local" {
		t.Fatalf("error %v: kind %s, model %q, provider %q; want %s, %q, local", err, e.Kind, e.Model, e.Provider, k, model)
	}
	_ = e.Error()
	return e
}

// Run checks p, a provider named "local" serving model with dims
// dimensions. inputs are a few texts to embed.
func Run(t *testing.T, p llm.Provider, model string, dims int, inputs []string) {
	t.Run("BadRequests", func(t *testing.T) {
		for _, c := range []struct {
			name  string
			input []string
			dims  int
			param string
		}{
			{"NoInput", nil, 0, "input"},
			{"EmptyString", []string{"a", ""}, 0, "input[1]"},
			{"TooManyDimensions", []string{"a"}, dims + 1, "dimensions"},
			{"NegativeDimensions", []string{"a"}, -1, "dimensions"},
		} {
			t.Run(c.name, func(t *testing.T) {
				req := EmbedRequest(model, c.input)
				req.Dimensions = c.dims
				_, err := p.Embed(t.Context(), req)
				e := WantKind(t, err, model, llm.KindBadRequest)
				if e.Param != c.param || e.Status != 400 || e.Kind.Retryable() {
					t.Errorf("param %q, status %d; want %q, 400", e.Param, e.Status, c.param)
				}
			})
		}
	})
	t.Run("ChatRefused", func(t *testing.T) {
		_, err := p.Chat(t.Context(), ChatRequest(model, false))
		e := WantKind(t, err, model, llm.KindBadRequest)
		if !strings.Contains(e.Message, "embedding model") {
			t.Errorf("message %q does not say the model only embeds", e.Message)
		}
		s, err := p.Stream(t.Context(), ChatRequest(model, true))
		if s != nil {
			t.Fatal("Stream returned a stream")
		}
		WantKind(t, err, model, llm.KindBadRequest)
	})
	t.Run("UnknownModel", func(t *testing.T) {
		const unknown = "llmtest-no-such-model"
		_, err := p.Chat(t.Context(), ChatRequest(unknown, false))
		WantKind(t, err, unknown, llm.KindNotFound)
		_, err = p.Stream(t.Context(), ChatRequest(unknown, true))
		WantKind(t, err, unknown, llm.KindNotFound)
		_, err = p.Embed(t.Context(), EmbedRequest(unknown, []string{"hello"}))
		WantKind(t, err, unknown, llm.KindNotFound)
	})
	t.Run("ContextEnded", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := p.Embed(ctx, EmbedRequest(model, inputs))
		WantKind(t, err, model, llm.KindCanceled)

		ctx, cancel = context.WithTimeout(t.Context(), 0)
		defer cancel()
		_, err = p.Embed(ctx, EmbedRequest(model, inputs))
		WantKind(t, err, model, llm.KindTimeout)
	})
}
