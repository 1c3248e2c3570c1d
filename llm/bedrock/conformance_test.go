package bedrock_test

import (
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm/bedrock"
	"github.com/bulwark-ai/bulwark/llm/llmtest"
	"github.com/bulwark-ai/bulwark/llm/sim"
)

// Model ids as Bedrock names them, served by the simulator.
const (
	chatModel  = "us.anthropic.claude-sim-v1:0"
	titanModel = "amazon.titan-embed-text-v2:0"
	tinyModel  = "anthropic.claude-tiny-v1:0"
)

// TestConformance runs the provider suite against the Bedrock client
// talking HTTP to the simulator's Bedrock endpoints: SigV4-signed requests,
// the event-stream encoding and Bedrock's exceptions, faults included.
func TestConformance(t *testing.T) {
	llmtest.Run(t, func(t *testing.T) llmtest.Env {
		s := sim.New("sim", 1, map[string]config.SimModel{
			chatModel:  {},
			titanModel: {Kind: "embedding", Dimensions: 64},
			tinyModel:  {ContextWindow: 64},
		})
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		c, err := bedrock.New(t.Context(), bedrock.Options{
			Name: "upstream", Region: "us-west-2", Endpoint: srv.URL,
			Credentials: credentials.NewStaticCredentialsProvider("AKIDCONFORMANCE", "conformance-secret", "conformance-session"),
		})
		if err != nil {
			t.Fatal(err)
		}
		return llmtest.Env{
			Provider:          c,
			ChatModel:         chatModel,
			EmbedModel:        titanModel,
			SmallContextModel: tinyModel,
			SetFaults: func(model string, f config.Faults) {
				if err := s.SetFaults(model, f); err != nil {
					t.Fatalf("set faults: %v", err)
				}
			},
		}
	})
}
