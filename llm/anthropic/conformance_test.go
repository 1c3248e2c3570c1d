package anthropic_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/anthropic"
	"github.com/bulwark-ai/bulwark/llm/llmtest"
	"github.com/bulwark-ai/bulwark/llm/sim"
)

// withEmbeddings is the Anthropic client with the simulator's own
// embeddings: Anthropic has none (Client.Embed refuses, see
// TestEmbedRefused), and llmtest has no way to skip its embedding cases,
// so they are answered by the simulator in-process and test nothing of
// this package.
type withEmbeddings struct {
	*anthropic.Client
	sim *sim.Sim
}

func (p withEmbeddings) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	return p.sim.Embed(ctx, req)
}

// TestConformance runs the provider suite against the Anthropic client
// talking HTTP to the simulator's Messages API: the wire format both ways,
// faults included.
func TestConformance(t *testing.T) {
	llmtest.Run(t, func(t *testing.T) llmtest.Env {
		s := sim.New("sim", 1, map[string]config.SimModel{
			"chat":  {},
			"embed": {Kind: "embedding", Dimensions: 64},
			"tiny":  {ContextWindow: 64},
		})
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		c, err := anthropic.New(anthropic.Options{Name: "upstream", BaseURL: srv.URL, APIKey: "sk-ant-conformance"})
		if err != nil {
			t.Fatal(err)
		}
		return llmtest.Env{
			Provider:          withEmbeddings{c, s},
			ChatModel:         "chat",
			EmbedModel:        "embed",
			SmallContextModel: "tiny",
			SetFaults: func(model string, f config.Faults) {
				if err := s.SetFaults(model, f); err != nil {
					t.Fatalf("set faults: %v", err)
				}
			},
		}
	})
}
