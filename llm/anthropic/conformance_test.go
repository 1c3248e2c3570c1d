package anthropic_test

import (
	"net/http/httptest"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm/anthropic"
	"github.com/bulwark-ai/bulwark/llm/llmtest"
	"github.com/bulwark-ai/bulwark/llm/sim"
)

// TestConformance runs the provider suite against the Anthropic client
// talking HTTP to the simulator's Messages API: the wire format both ways,
// faults included.
func TestConformance(t *testing.T) {
	llmtest.Run(t, func(t *testing.T) llmtest.Env {
		s := sim.New("sim", 1, map[string]config.SimModel{
			"chat": {},
			"tiny": {ContextWindow: 64},
		})
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		c, err := anthropic.New(anthropic.Options{Name: "upstream", BaseURL: srv.URL, APIKey: "sk-ant-conformance"})
		if err != nil {
			t.Fatal(err)
		}
		return llmtest.Env{
			Provider:          c,
			ChatModel:         "chat",
			SmallContextModel: "tiny",
			SetFaults: func(model string, f config.Faults) {
				if err := s.SetFaults(model, f); err != nil {
					t.Fatalf("set faults: %v", err)
				}
			},
		}
	})
}
