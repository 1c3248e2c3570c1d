package sim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

const twoReplies = `Weather please. [sim:reply {"tool_calls":[{"name":"weather","arguments":"{\"city\":"}]}] ` +
	`[sim:reply {"tool_calls":[{"name":"weather","arguments":{"city":"Oslo"},"id":"c9"}]}]`

type scriptedMessage struct {
	Content   *string `json:"content"`
	ToolCalls []struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

// A scripted reply answers in place of the generated words; the k-th
// directive answers after k assistant messages, the last one after that.
func TestScriptedReplies(t *testing.T) {
	s := newTestSim(t, nil)
	req := chatReq(twoReplies)
	for k, want := range []string{`{"city":`, `{"city":"Oslo"}`, `{"city":"Oslo"}`} {
		resp, err := s.Chat(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Choices []struct {
				Message      scriptedMessage `json:"message"`
				FinishReason string          `json:"finish_reason"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(resp.Body, &body); err != nil {
			t.Fatalf("%d: %v: %s", k, err, resp.Body)
		}
		m := body.Choices[0].Message
		if m.Content != nil || len(m.ToolCalls) != 1 || m.ToolCalls[0].Function.Name != "weather" ||
			m.ToolCalls[0].Function.Arguments != want || body.Choices[0].FinishReason != "tool_calls" {
			t.Fatalf("%d: %s", k, resp.Body)
		}
		if resp.FinishReasons[0] != "tool_calls" || resp.Usage.CompletionTokens == 0 {
			t.Errorf("%d: %+v", k, resp)
		}
		req.Messages = append(req.Messages, llm.Message{Role: "assistant"}, llm.Message{Role: "tool", ToolCallID: "x", Content: "no"})
	}
}

// Streamed, the calls come in two deltas each, which add up to the call.
func TestScriptedReplyStreams(t *testing.T) {
	s := newTestSim(t, nil)
	st, err := s.Stream(context.Background(), chatReq(`[sim:reply {"content":"{\"a\":1}"}] and`))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var text strings.Builder
	finish := ""
	for {
		ch, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(ch.Data, &d); err != nil {
			t.Fatalf("%v: %s", err, ch.Data)
		}
		for _, c := range d.Choices {
			text.WriteString(c.Delta.Content)
		}
		if ch.FinishReason != "" {
			finish = ch.FinishReason
		}
	}
	if text.String() != `{"a":1}` || finish != "stop" {
		t.Errorf("text %q finish %q", text.String(), finish)
	}

	st, err = s.Stream(context.Background(), chatReq(twoReplies))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	args, name := "", ""
	for {
		ch, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Choices []struct {
				Delta scriptedMessage `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(ch.Data, &d); err != nil {
			t.Fatalf("%v: %s", err, ch.Data)
		}
		for _, c := range d.Choices {
			for _, tc := range c.Delta.ToolCalls {
				name += tc.Function.Name
				args += tc.Function.Arguments
			}
		}
	}
	if name != "weather" || args != `{"city":` {
		t.Errorf("name %q args %q", name, args)
	}
}

// A directive that is not JSON followed by "]" is text.
func TestScriptMalformedIsText(t *testing.T) {
	for _, text := range []string{"[sim:reply {", "[sim:reply {} trailing", "[sim:reply nope]"} {
		if sc := scriptOf([]llm.Message{{Role: "user", Content: text}}); sc != nil {
			t.Errorf("%q: %+v", text, sc)
		}
	}
}

func FuzzScriptOf(f *testing.F) {
	f.Add(twoReplies)
	f.Add(`[sim:reply {"content":"é"}]`)
	f.Fuzz(func(t *testing.T, text string) {
		sc := scriptOf([]llm.Message{{Role: "user", Content: text}})
		if sc == nil {
			return
		}
		b := sc.appendMessage(nil)
		if !json.Valid(b) {
			t.Fatalf("message not JSON: %s", b)
		}
		for _, d := range sc.deltas() {
			if !json.Valid([]byte(d)) {
				t.Fatalf("delta not JSON: %s", d)
			}
		}
	})
}
