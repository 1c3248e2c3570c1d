package use

import (
	"context"
	"math"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/local/internal/surface"
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
	m surface.Model
}

var _ llm.Provider = (*Embedder)(nil)

// New returns the provider. name is the provider's name in configuration,
// which its errors carry. The weights are decoded on the first Embed (or
// Load), not here.
func New(name string) *Embedder {
	return &Embedder{m: surface.Model{Provider: name, Name: Model, Dimensions: Dimensions}}
}

// Load decodes the weights now instead of on the first request, and
// reports whether they are intact. The composition root may call it at
// start-up to fail early; it is cheap after the first call.
func (p *Embedder) Load() error {
	_, err := loadModel()
	return err
}

// Chat refuses: the model only embeds.
func (p *Embedder) Chat(_ context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	return nil, p.m.ChatError(req.Model)
}

// Stream refuses: the model only embeds.
func (p *Embedder) Stream(_ context.Context, req *llm.ChatRequest) (llm.Stream, error) {
	return nil, p.m.ChatError(req.Model)
}

// Embed computes one embedding per input, in input order.
func (p *Embedder) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	dims, bad := p.m.Check(req)
	if bad != nil {
		return nil, bad
	}
	m, err := loadModel()
	if err != nil {
		return nil, p.m.Corrupt(req.Model, err)
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
			return nil, p.m.ContextError(req.Model, err)
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
