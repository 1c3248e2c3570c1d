package anthropic_test

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/anthropic"
	"github.com/bulwark-ai/bulwark/llm/sim"
)

func simClient(t *testing.T) *anthropic.Client {
	t.Helper()
	s := sim.New("sim", 1, map[string]config.SimModel{"chat": {}})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	c, err := anthropic.New(anthropic.Options{Name: "upstream", BaseURL: srv.URL, APIKey: "sk-ant-test"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func chatReq(body string, stream bool) *llm.ChatRequest {
	return &llm.ChatRequest{Model: "chat", Stream: stream, Body: []byte(body)}
}

const toolsJSON = `"tools":[{"type":"function","function":{"name":"lookup","description":"Look it up.","parameters":{"type":"object","properties":{"text":{"type":"string"}}}}}]`

// TestToolCallRoundTrip asks the simulator for a forced tool call, plain
// and streamed, then sends the call and its result back.
func TestToolCallRoundTrip(t *testing.T) {
	c := simClient(t)
	ask := `{"model":"alias","max_tokens":64,"messages":[{"role":"user","content":"Look up the weather."}],` + toolsJSON + `,"tool_choice":"required"}`
	resp, err := c.Chat(t.Context(), chatReq(ask, false))
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
	calls := w.Choices[0].Message.ToolCalls
	if resp.FinishReasons[0] != "tool_calls" || len(calls) != 1 || calls[0].Function.Name != "lookup" || !json.Valid([]byte(calls[0].Function.Arguments)) {
		t.Fatalf("answer %s", resp.Body)
	}

	// Streamed: a tool call start, then argument fragments that join into
	// the same arguments.
	s, err := c.Stream(t.Context(), chatReq(strings.Replace(ask, `"max_tokens"`, `"stream":true,"max_tokens"`, 1), true))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var args strings.Builder
	var finish string
	starts := 0
	for {
		ch, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var cw struct {
			Choices []struct {
				Delta struct {
					ToolCalls []struct {
						ID       string `json:"id"`
						Function struct {
							Name      string  `json:"name"`
							Arguments *string `json:"arguments"`
						} `json:"function"`
					} `json:"tool_calls"`
				} `json:"delta"`
			} `json:"choices"`
		}
		json.Unmarshal(ch.Data, &cw)
		for _, c := range cw.Choices {
			for _, tc := range c.Delta.ToolCalls {
				if tc.ID != "" {
					starts++
				}
				if tc.Function.Arguments != nil {
					args.WriteString(*tc.Function.Arguments)
				}
			}
		}
		if ch.FinishReason != "" {
			finish = ch.FinishReason
		}
	}
	if starts != 1 || finish != "tool_calls" || args.String() != calls[0].Function.Arguments {
		t.Errorf("stream: %d starts, finish %q, arguments %q, want %q", starts, finish, args.String(), calls[0].Function.Arguments)
	}

	// The call and its result go back; the simulator checks that the
	// tool_result answers the tool_use before it.
	callJSON, _ := json.Marshal(calls[0].Function.Arguments)
	follow := `{"model":"alias","messages":[{"role":"user","content":"Look up the weather."},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"` + calls[0].ID + `","type":"function","function":{"name":"lookup","arguments":` + string(callJSON) + `}}]},` +
		`{"role":"tool","tool_call_id":"` + calls[0].ID + `","content":"Sunny."},` +
		`{"role":"user","content":[{"type":"text","text":"And this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}],` + toolsJSON + `}`
	resp, err = c.Chat(t.Context(), chatReq(follow, false))
	if err != nil {
		t.Fatal(err)
	}
	if resp.FinishReasons[0] != "stop" {
		t.Errorf("follow-up: %s", resp.Body)
	}
	// A tool result whose call is not in the conversation is refused.
	bad := strings.Replace(follow, `"tool_call_id":"`+calls[0].ID, `"tool_call_id":"toolu_other`, 1)
	if _, err := c.Chat(t.Context(), chatReq(bad, false)); llm.KindOf(err) != llm.KindBadRequest {
		t.Errorf("orphan tool result: %v", err)
	}
}

// TestContinue continues a prefix against the simulator: the rest of the
// answer joins the prefix into the whole answer.
func TestContinue(t *testing.T) {
	c := simClient(t)
	body := `{"model":"alias","max_tokens":64,"messages":[{"role":"user","content":"Tell me a story."}],"stream":true}`
	text := func(s llm.Stream) string {
		defer s.Close()
		var b strings.Builder
		for {
			ch, err := s.Recv()
			if err == io.EOF {
				return b.String()
			}
			if err != nil {
				t.Fatal(err)
			}
			var cw struct {
				Choices []struct {
					Delta struct {
						Content string `json:"content"`
					} `json:"delta"`
				} `json:"choices"`
			}
			json.Unmarshal(ch.Data, &cw)
			for _, c := range cw.Choices {
				b.WriteString(c.Delta.Content)
			}
		}
	}
	s, err := c.Stream(t.Context(), chatReq(body, true))
	if err != nil {
		t.Fatal(err)
	}
	full := text(s)
	words := strings.Fields(full)
	prefix := strings.Join(words[:4], " ") + " " // trailing whitespace is trimmed
	req := chatReq(body, true)
	req.Continue = true
	req.Messages = []llm.Message{{Role: "user", Content: "Tell me a story."}, {Role: "assistant", Content: prefix}}
	s, err = c.Stream(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if rest := text(s); strings.TrimSpace(prefix)+rest != full {
		t.Errorf("prefix %q + rest %q, want %q", prefix, rest, full)
	}
}
