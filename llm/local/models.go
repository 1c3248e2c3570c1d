package local

import (
	"context"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/local/use"
)

// Models is the provider of configuration type "local": every embedding
// model built into the binary, chosen by the request's model name —
// Model, the GloVe table of this package (fast: knowledge bases embed
// with it by default), and use.Model, the Universal Sentence Encoder lite
// of llm/local/use (a small transformer: about a hundred times slower a
// chunk, better at telling paraphrases apart, for the semantic cache). A
// name that is neither is a model_not_found. Each model's weights are
// decoded on its first request.
type Models struct {
	glove *Embedder
	use   *use.Embedder
}

var _ llm.Provider = (*Models)(nil)

// NewModels returns the local provider named name in configuration.
func NewModels(name string) *Models { return &Models{glove: New(name), use: use.New(name)} }

func (m *Models) pick(model string) llm.Provider {
	if model == use.Model {
		return m.use
	}
	return m.glove
}

// Chat refuses: the models only embed.
func (m *Models) Chat(ctx context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	return m.pick(req.Model).Chat(ctx, req)
}

// Stream refuses: the models only embed.
func (m *Models) Stream(ctx context.Context, req *llm.ChatRequest) (llm.Stream, error) {
	return m.pick(req.Model).Stream(ctx, req)
}

// Embed embeds with the model req names.
func (m *Models) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	return m.pick(req.Model).Embed(ctx, req)
}
