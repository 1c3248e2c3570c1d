package openai_test

import (
	"net/http/httptest"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm/llmtest"
	"github.com/bulwark-ai/bulwark/llm/openai"
	"github.com/bulwark-ai/bulwark/llm/sim"
)

// TestConformance runs the provider suite against the OpenAI client talking
// HTTP to the simulator: the wire format both ways, faults included.
func TestConformance(t *testing.T) {
	llmtest.Run(t, func(t *testing.T) llmtest.Env {
		s := sim.New("sim", 1, map[string]config.SimModel{
			"chat":  {},
			"embed": {Kind: "embedding", Dimensions: 64},
			"tiny":  {ContextWindow: 64},
		})
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		c, err := openai.New(openai.Options{Name: "upstream", BaseURL: srv.URL + "/v1", APIKey: "sk-conformance"})
		if err != nil {
			t.Fatal(err)
		}
		return llmtest.Env{
			Provider:          c,
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
