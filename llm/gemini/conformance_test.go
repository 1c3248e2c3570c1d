package gemini_test

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm/gemini"
	"github.com/bulwark-ai/bulwark/llm/llmtest"
	"github.com/bulwark-ai/bulwark/llm/sim"
)

// TestConformance runs the provider suite against the Gemini client talking
// HTTP to the simulator's Gemini API: the wire format both ways, faults
// included.
func TestConformance(t *testing.T) {
	llmtest.Run(t, func(t *testing.T) llmtest.Env {
		s := sim.New("sim", 1, map[string]config.SimModel{
			"chat":  {},
			"embed": {Kind: "embedding", Dimensions: 64},
			"tiny":  {ContextWindow: 64},
		})
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		c, err := gemini.New(gemini.Options{Name: "upstream", BaseURL: srv.URL + "/v1beta", APIKey: "gm-conformance"})
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

// newSimClient returns a client of a simulator's Gemini API.
func newSimClient(t *testing.T) *gemini.Client {
	t.Helper()
	s := sim.New("sim", 1, map[string]config.SimModel{"chat": {}})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	c, err := gemini.New(gemini.Options{Name: "upstream", BaseURL: srv.URL + "/v1beta", APIKey: "gm-sim"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSimToolCalls asks the simulator for a required tool call, plain and
// streamed, and checks it comes back in OpenAI's form.
func TestSimToolCalls(t *testing.T) {
	c := newSimClient(t)
	extra := map[string]any{
		"tools": []any{map[string]any{"type": "function", "function": map[string]any{
			"name": "get_weather", "parameters": map[string]any{
				"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "additionalProperties": false,
			},
		}}},
		"tool_choice": "required",
	}
	resp, err := c.Chat(t.Context(), llmtest.ChatRequest("chat", "Weather in Paris?", 32, false, extra))
	if err != nil {
		t.Fatal(err)
	}
	var w struct {
		Choices []struct {
			Message struct {
				ToolCalls []struct {
					ID       string `json:"id"`
					Function struct {
						Name      string `json:"name"`
						Arguments string `json:"arguments"`
					} `json:"function"`
				} `json:"tool_calls"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(resp.Body, &w); err != nil {
		t.Fatal(err)
	}
	tc := w.Choices[0].Message.ToolCalls
	var args map[string]string
	if resp.FinishReasons[0] != "tool_calls" || len(tc) != 1 || tc[0].Function.Name != "get_weather" ||
		json.Unmarshal([]byte(tc[0].Function.Arguments), &args) != nil || args["city"] == "" {
		t.Fatalf("answer %s", resp.Body)
	}

	s, err := c.Stream(t.Context(), llmtest.ChatRequest("chat", "Weather in Paris?", 32, true, extra))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var finish string
	var streamed strings.Builder
	for {
		ch, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ch.FinishReason != "" {
			finish = ch.FinishReason
		}
		streamed.Write(ch.Data)
	}
	if finish != "tool_calls" || !strings.Contains(streamed.String(), `"name":"get_weather"`) ||
		!strings.Contains(streamed.String(), strconv.Quote(tc[0].Function.Arguments)) {
		t.Errorf("stream finished %q: %s", finish, streamed.String())
	}
}

// TestSimSafetyFinish checks the simulator's fault-free SAFETY finish.
func TestSimSafetyFinish(t *testing.T) {
	c := newSimClient(t)
	resp, err := c.Chat(t.Context(), llmtest.ChatRequest("chat", "Tell me [sim:safety] things.", 16, false, nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.FinishReasons[0] != "content_filter" {
		t.Errorf("finish %v", resp.FinishReasons)
	}
	s, err := c.Stream(t.Context(), llmtest.ChatRequest("chat", "Tell me [sim:safety] things.", 16, true, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var finish string
	for {
		ch, err := s.Recv()
		if err != nil {
			if err != io.EOF {
				t.Fatal(err)
			}
			break
		}
		if ch.FinishReason != "" {
			finish = ch.FinishReason
		}
	}
	if finish != "content_filter" {
		t.Errorf("stream finish %q", finish)
	}
}
