package sim_test

import (
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm/llmtest"
	"github.com/bulwark-ai/bulwark/llm/sim"
)

// TestConformance runs the provider suite against the simulator in process.
func TestConformance(t *testing.T) {
	llmtest.Run(t, func(t *testing.T) llmtest.Env {
		s := sim.New("sim", 1, map[string]config.SimModel{
			"chat":  {},
			"embed": {Kind: "embedding", Dimensions: 64},
			"tiny":  {ContextWindow: 64},
		})
		return llmtest.Env{
			Provider:          s,
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
