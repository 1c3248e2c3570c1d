package tools

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/bulwark-ai/bulwark/llm"
)

// Reask returns the request of the one re-ask an answer with violations
// vs gets: req's messages followed by the answer's first choice and what
// was wrong with it. For tool calls, the assistant message that made the
// calls and one tool message per call (the error for a call at fault;
// for the others, that they were not run); for a structured output, the
// assistant's text and a user message naming the mismatch. The body and
// Messages of the copy are both extended; req is not changed.
func Reask(req *llm.ChatRequest, a *Answer, vs []Violation) (*llm.ChatRequest, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(req.Body, &top); err != nil {
		return nil, fmt.Errorf("reask: %w", err)
	}
	var msgs []json.RawMessage
	if err := json.Unmarshal(top["messages"], &msgs); err != nil {
		return nil, fmt.Errorf("reask: messages: %w", err)
	}
	out := *req
	out.Messages = append(req.Messages[:len(req.Messages):len(req.Messages)], []llm.Message(nil)...)
	add := func(m map[string]any, lm llm.Message) error {
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		msgs = append(msgs, b)
		out.Messages = append(out.Messages, lm)
		return nil
	}
	if vs[0].Code == CodeFormatInvalid {
		text := a.Contents[vs[0].Call.Choice]
		if err := add(map[string]any{"role": "assistant", "content": text}, llm.Message{Role: "assistant", Content: text}); err != nil {
			return nil, err
		}
		note := "Your answer does not match the JSON schema the response_format requires: " + vs[0].Reason +
			". Answer again with only JSON that matches the schema."
		if err := add(map[string]any{"role": "user", "content": note}, llm.Message{Role: "user", Content: note}); err != nil {
			return nil, err
		}
	} else {
		choice := vs[0].Call.Choice
		var calls []Call
		for _, c := range a.Calls {
			if c.Choice == choice {
				calls = append(calls, c)
			}
		}
		wire := make([]map[string]any, len(calls))
		for i := range calls {
			if calls[i].ID == "" {
				calls[i].ID = "call_bulwark_" + strconv.Itoa(i)
			}
			wire[i] = map[string]any{"id": calls[i].ID, "type": "function",
				"function": map[string]any{"name": calls[i].Name, "arguments": calls[i].Arguments}}
		}
		if err := add(map[string]any{"role": "assistant", "content": nil, "tool_calls": wire}, llm.Message{Role: "assistant"}); err != nil {
			return nil, err
		}
		for _, c := range calls {
			note := "Not run: another call of this answer was rejected; make the calls again."
			for _, v := range vs {
				if v.Call.Name != "" && v.Call.Index == c.Index {
					note = "Not run: " + v.Reason + ". Call the tools again correctly, or answer without them."
					break
				}
			}
			if err := add(map[string]any{"role": "tool", "tool_call_id": c.ID, "content": note},
				llm.Message{Role: "tool", ToolCallID: c.ID, Content: note}); err != nil {
				return nil, err
			}
		}
	}
	b, err := json.Marshal(msgs)
	if err != nil {
		return nil, err
	}
	top["messages"] = b
	if out.Body, err = json.Marshal(top); err != nil {
		return nil, err
	}
	return &out, nil
}
