package local

import (
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/local/internal/surface/surfacetest"
	"github.com/bulwark-ai/bulwark/llm/local/use"
)

// The local provider serves each built-in model by its name, and refuses
// chat and unknown models as each model does.
func TestModelsServeEachModelByName(t *testing.T) {
	p := NewModels("local")
	for _, c := range []struct {
		model string
		dims  int
	}{{Model, Dimensions}, {use.Model, use.Dimensions}} {
		resp, err := p.Embed(t.Context(), surfacetest.EmbedRequest(c.model, []string{"How do I learn Go?", "What is the capital of France?"}))
		if err != nil {
			t.Fatalf("%s: %v", c.model, err)
		}
		if resp.Model != c.model || len(resp.Vectors) != 2 || len(resp.Vectors[0]) != c.dims {
			t.Errorf("%s: model %q, %d vectors of %d; want %d-dimensional vectors", c.model, resp.Model, len(resp.Vectors), len(resp.Vectors[0]), c.dims)
		}
		_, err = p.Chat(t.Context(), surfacetest.ChatRequest(c.model, false))
		surfacetest.WantKind(t, err, c.model, llm.KindBadRequest)
		_, err = p.Stream(t.Context(), surfacetest.ChatRequest(c.model, true))
		surfacetest.WantKind(t, err, c.model, llm.KindBadRequest)
	}
	const unknown = "llmtest-no-such-model"
	_, err := p.Embed(t.Context(), surfacetest.EmbedRequest(unknown, []string{"hello"}))
	surfacetest.WantKind(t, err, unknown, llm.KindNotFound)
}
