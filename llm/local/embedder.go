package local

import (
	"context"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/local/internal/surface"
)

// Model is the name of the built-in embedding model: GloVe 6B word vectors
// (100 dimensions) with SIF weighting and the common component removed,
// Dimensions wide.
const Model = "bulwark-glove-sif-99d"

// Dimensions is the model's native output dimension.
const Dimensions = 99

// Embedder is the llm.Provider of the built-in model: it computes
// embeddings in process, on the CPU, from the table compiled into the
// binary. It serves one model, Model, and only embeddings; Chat and Stream
// refuse as a bad request.
//
// Vectors are deterministic and L2-normalised. A request for fewer
// dimensions gets the leading ones, normalised again: the table's
// dimensions are principal axes in order of variance, so a prefix is the
// best linear projection of that size. Usage counts words (runs of letters
// and digits), at least one per input.
//
// An Embedder is safe for concurrent use. The zero value is not usable;
// call New.
type Embedder struct {
	m surface.Model
}

var _ llm.Provider = (*Embedder)(nil)

// New returns the built-in embedding provider. name is the provider's name
// in configuration, which its errors carry. The table is decoded on the
// first Embed (or Load), not here.
func New(name string) *Embedder {
	return &Embedder{m: surface.Model{Provider: name, Name: Model, Dimensions: Dimensions}}
}

// Load decodes the table now instead of on the first request, and reports
// whether it is intact. The composition root may call it at start-up to
// fail early; it is cheap after the first call.
func (p *Embedder) Load() error {
	_, err := loadTable()
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
	t, err := loadTable()
	if err != nil {
		return nil, p.m.Corrupt(req.Model, err)
	}
	e := newEmbedder(t)
	backing := make([]float32, len(req.Input)*dims)
	vectors := make([][]float32, len(req.Input))
	tokens := 0
	for i, in := range req.Input {
		// A large batch takes a while; stop when the caller has gone.
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, p.m.ContextError(req.Model, err)
			}
		}
		v := backing[i*dims : (i+1)*dims : (i+1)*dims]
		tokens += e.vector(in, v)
		vectors[i] = v
	}
	return &llm.EmbedResponse{
		Vectors: vectors,
		Model:   Model,
		Usage:   llm.Usage{PromptTokens: tokens, TotalTokens: tokens},
	}, nil
}
