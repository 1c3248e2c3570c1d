package anthropic

import (
	"encoding/json"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/llm"
)

// chunkWire is the part of an OpenAI chat.completion.chunk this package
// reads.
type chunkWire struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content   *string `json:"content"`
			Refusal   *string `json:"refusal"`
			ToolCalls []struct {
				Index    *int   `json:"index"`
				ID       string `json:"id"`
				Function struct {
					Name      string  `json:"name"`
					Arguments *string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
}

// streamEncoder turns one stream's OpenAI chunks into the Messages event
// sequence: message_start and ping before the first content, then per
// content block content_block_start, its deltas (text_delta or
// input_json_delta) and content_block_stop, and at the end message_delta
// (stop_reason, usage) and message_stop.
type streamEncoder struct {
	d       *dialect
	started bool
	id      string
	model   string
	// block is the open content block's index, -1 when none; kind is
	// its type, next the index of the next block.
	block int
	kind  string
	next  int
	// tools maps an OpenAI tool call index to its block's index.
	tools  map[int]int
	finish string
	usage  *llm.Usage
}

type startBlock struct {
	Type  string          `json:"type"`
	Text  *string         `json:"text,omitempty"`
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
}

// event appends one server-sent event to out.
func event(out []byte, name string, data any) []byte {
	b, err := json.Marshal(data)
	if err != nil { // strings, numbers and valid JSON only: cannot happen
		panic(err)
	}
	out = append(out, "event: "...)
	out = append(out, name...)
	out = append(out, "\ndata: "...)
	out = append(out, b...)
	return append(out, "\n\n"...)
}

func (s *streamEncoder) start(out []byte) []byte {
	if s.started {
		return out
	}
	s.started = true
	null := (*string)(nil)
	out = event(out, "message_start", map[string]any{"type": "message_start", "message": messageOut{
		ID: messageID(s.id, s.d.requestID), Type: "message", Role: "assistant", Model: s.d.modelOf(s.model),
		Content: []blockOut{}, StopReason: null, StopSequence: null, Usage: usageOut{InputTokens: s.d.prompt, OutputTokens: 1},
	}})
	return event(out, "ping", map[string]string{"type": "ping"})
}

func (s *streamEncoder) stop(out []byte) []byte {
	if s.block < 0 {
		return out
	}
	out = event(out, "content_block_stop", map[string]any{"type": "content_block_stop", "index": s.block})
	s.block, s.kind = -1, ""
	return out
}

func (s *streamEncoder) open(out []byte, kind string, b startBlock) []byte {
	out = s.stop(out)
	s.block, s.kind = s.next, kind
	s.next++
	return event(out, "content_block_start", map[string]any{"type": "content_block_start", "index": s.block, "content_block": b})
}

func (s *streamEncoder) text(out []byte, t string) []byte {
	if s.kind != "text" {
		empty := ""
		out = s.open(out, "text", startBlock{Type: "text", Text: &empty})
	}
	if t == "" {
		return out
	}
	return event(out, "content_block_delta", map[string]any{"type": "content_block_delta", "index": s.block,
		"delta": map[string]string{"type": "text_delta", "text": t}})
}

func (s *streamEncoder) Chunk(c *llm.Chunk) ([]byte, error) {
	if c.Usage != nil {
		u := *c.Usage
		s.usage = &u
	}
	if !c.HasContent && c.Usage != nil {
		return nil, nil
	}
	var w chunkWire
	if err := json.Unmarshal(c.Data, &w); err != nil {
		return nil, &llm.Error{Kind: llm.KindStreamBroken, Model: c.Model, Message: "a chunk of the upstream's stream is not valid JSON"}
	}
	if s.id == "" {
		s.id, s.model = w.ID, w.Model
	}
	var out []byte
	for _, ch := range w.Choices {
		if ch.Index != 0 {
			continue // one choice only: the request asks for one
		}
		if !s.started {
			out = s.start(out)
		}
		d := ch.Delta
		if d.Content != nil && (*d.Content != "" || s.block < 0 && len(d.ToolCalls) == 0 && ch.FinishReason == nil) {
			out = s.text(out, *d.Content)
		}
		if d.Refusal != nil && *d.Refusal != "" {
			out = s.text(out, *d.Refusal)
		}
		for _, tc := range d.ToolCalls {
			idx := len(s.tools)
			if tc.Index != nil {
				idx = *tc.Index
			}
			bi, seen := s.tools[idx]
			if !seen {
				out = s.open(out, "tool_use", startBlock{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: json.RawMessage("{}")})
				bi = s.block
				s.tools[idx] = bi
			}
			if a := tc.Function.Arguments; a != nil && *a != "" {
				out = event(out, "content_block_delta", map[string]any{"type": "content_block_delta", "index": bi,
					"delta": map[string]string{"type": "input_json_delta", "partial_json": *a}})
			}
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			s.finish = *ch.FinishReason
			out = s.stop(out)
		}
	}
	return out, nil
}

func (s *streamEncoder) End() []byte {
	out := s.start(nil)
	out = s.stop(out)
	reason := stopReason(s.finish)
	u := usageOut{InputTokens: s.d.prompt}
	if s.usage != nil {
		u = usageOf(*s.usage)
	}
	out = event(out, "message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]*string{"stop_reason": &reason, "stop_sequence": nil}, "usage": u})
	return event(out, "message_stop", map[string]string{"type": "message_stop"})
}

func (s *streamEncoder) Error(e *api.Error) []byte {
	out := append([]byte(nil), "event: error\ndata: "...)
	out = append(out, e.AnthropicBody()...)
	return append(out, "\n\n"...)
}
