package use

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"

	"github.com/bulwark-ai/bulwark/llm"
)

// Model is the name of the model the Embedder serves: the Universal
// Sentence Encoder lite, Dimensions wide.
const Model = "local-use"

// Dimensions is the model's native output dimension.
const Dimensions = width

// MaxTokens is how many tokens of an input the model reads: the graph
// clips its input to the first 128 sentencepiece tokens (about 90 to 110
// words of English) and ignores the rest.
const MaxTokens = 128

// Embedder is the llm.Provider of the Universal Sentence Encoder lite: it
// computes embeddings in process, on the CPU, with the weights compiled
// into the binary. It serves one model, Model, and only embeddings; Chat
// and Stream refuse as a bad request.
//
// Vectors are deterministic and L2-normalised. Only the first MaxTokens
// tokens of an input count. A request for fewer dimensions gets the
// leading ones, normalised again; the model's dimensions have no order of
// importance, so that is a plain truncation and loses more than it does
// for a model trained for it. Usage counts the tokens the model read, at
// most MaxTokens per input.
//
// An Embedder is safe for concurrent use. The zero value is not usable;
// call New.
type Embedder struct {
	name string
}

var _ llm.Provider = (*Embedder)(nil)

// New returns the provider. name is the provider's name in configuration,
// which its errors carry. The weights are decoded on the first Embed (or
// Load), not here.
func New(name string) *Embedder { return &Embedder{name: name} }

// Load decodes the weights now instead of on the first request, and
// reports whether they are intact. The composition root may call it at
// start-up to fail early; it is cheap after the first call.
func (p *Embedder) Load() error {
	_, err := loadModel()
	return err
}

// Chat refuses: the model only embeds.
func (p *Embedder) Chat(_ context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	return nil, p.chatError(req.Model)
}

// Stream refuses: the model only embeds.
func (p *Embedder) Stream(_ context.Context, req *llm.ChatRequest) (llm.Stream, error) {
	return nil, p.chatError(req.Model)
}

func (p *Embedder) chatError(model string) *llm.Error {
	if model != Model {
		return p.notFound(model)
	}
	return p.badRequest(model, "model", "model_not_supported",
		fmt.Sprintf("The model `%s` is an embedding model and does not support chat completions.", model))
}

// Embed computes one embedding per input, in input order.
func (p *Embedder) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	if req.Model != Model {
		return nil, p.notFound(req.Model)
	}
	dims := req.Dimensions
	switch {
	case len(req.Input) == 0:
		return nil, p.badRequest(req.Model, "input", "empty_array",
			"Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	case dims < 0 || dims > Dimensions:
		return nil, p.badRequest(req.Model, "dimensions", "invalid_value",
			fmt.Sprintf("Invalid 'dimensions': %d. The model %s supports 1 to %d dimensions.", dims, Model, Dimensions))
	case dims == 0:
		dims = Dimensions
	}
	for i, in := range req.Input {
		if in == "" {
			return nil, p.badRequest(req.Model, fmt.Sprintf("input[%d]", i), "invalid_value",
				fmt.Sprintf("Invalid 'input[%d]': the input cannot be an empty string.", i))
		}
	}
	m, err := loadModel()
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindServer, Message: "the built-in embedding weights are corrupt", Provider: p.name, Model: req.Model, Err: err}
	}
	e := newEncoder(m)
	full := make([]float32, Dimensions)
	backing := make([]float32, len(req.Input)*dims)
	vectors := make([][]float32, len(req.Input))
	tokens := 0
	for i, in := range req.Input {
		// An input takes up to a tenth of a second; stop when the caller
		// has gone.
		if err := ctx.Err(); err != nil {
			return nil, p.contextError(req.Model, err)
		}
		tokens += e.vector(in, full)
		v := backing[i*dims : (i+1)*dims : (i+1)*dims]
		copy(v, full)
		if dims < Dimensions {
			normalise(v)
		}
		vectors[i] = v
	}
	return &llm.EmbedResponse{
		Vectors: vectors,
		Model:   Model,
		Usage:   llm.Usage{PromptTokens: tokens, TotalTokens: tokens},
	}, nil
}

// normalise scales v to unit length (a zero vector stays zero).
func normalise(v []float32) {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		return
	}
	s := float32(1 / math.Sqrt(ss))
	for i := range v {
		v[i] *= s
	}
}

func (p *Embedder) notFound(model string) *llm.Error {
	return &llm.Error{
		Kind: llm.KindNotFound, Status: http.StatusNotFound, Type: "invalid_request_error", Code: "model_not_found",
		Message:  fmt.Sprintf("The model `%s` does not exist; the built-in provider serves only %s.", model, Model),
		Provider: p.name, Model: model,
	}
}

func (p *Embedder) badRequest(model, param, code, msg string) *llm.Error {
	return &llm.Error{
		Kind: llm.KindBadRequest, Status: http.StatusBadRequest, Type: "invalid_request_error",
		Param: param, Code: code, Message: msg, Provider: p.name, Model: model,
	}
}

func (p *Embedder) contextError(model string, err error) *llm.Error {
	k := llm.KindCanceled
	if errors.Is(err, context.DeadlineExceeded) {
		k = llm.KindTimeout
	}
	return &llm.Error{Kind: k, Message: err.Error(), Provider: p.name, Model: model, Err: err}
}
