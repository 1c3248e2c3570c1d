package openai

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/llm"
)

func (t *turn) Stream(*llm.ChatRequest) StreamEncoder {
	return &responseStream{t: t, calls: map[int]*openCall{}}
}

// responseChunkWire is the part of an OpenAI chat.completion.chunk a
// response stream reads.
type responseChunkWire struct {
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

// responseStream turns one stream's chat chunks into the Responses API's
// typed events, each with its sequence_number: response.created and
// response.in_progress before the first output (and the file_search_call
// item's events when the tool ran); for a message
// response.output_item.added, response.content_part.added, its
// response.output_text.delta events, then (annotations added)
// response.output_text.done, response.content_part.done and
// response.output_item.done; for a function call
// response.output_item.added, response.function_call_arguments.delta
// events, response.function_call_arguments.done and
// response.output_item.done; at the end response.completed (or
// response.incomplete), and for a broken stream response.failed then an
// error event, never a completion.
type responseStream struct {
	t       *turn
	seq     int
	started bool
	// items are the output items by output_index; an open item's entry
	// is filled when it is done.
	items []any
	msg   *openMessage
	// calls are the open function calls by their chat tool call index.
	calls  map[int]*openCall
	finish string
	usage  *llm.Usage
}

type openMessage struct {
	id    string
	index int
	text  strings.Builder
}

type openCall struct {
	index int
	item  functionCallOut
	args  strings.Builder
}

// event appends one server-sent event of type typ to out; fields are its
// data besides type and sequence_number.
func (s *responseStream) event(out []byte, typ string, fields map[string]any) []byte {
	fields["type"] = typ
	fields["sequence_number"] = s.seq
	s.seq++
	b, err := json.Marshal(fields)
	if err != nil { // strings, numbers and valid JSON only: cannot happen
		panic(err)
	}
	out = append(out, "event: "...)
	out = append(out, typ...)
	out = append(out, "\ndata: "...)
	out = append(out, b...)
	return append(out, "\n\n"...)
}

func (s *responseStream) start(out []byte) []byte {
	if s.started {
		return out
	}
	s.started = true
	r := s.t.response(nil, "", nil)
	out = s.event(out, "response.created", map[string]any{"response": r})
	out = s.event(out, "response.in_progress", map[string]any{"response": r})
	if f := s.t.found; f != nil {
		idx := len(s.items)
		c := f.call(s.t.req.includeResults)
		s.items = append(s.items, c)
		pending := c
		pending.Status, pending.Results = "in_progress", nil
		out = s.event(out, "response.output_item.added", map[string]any{"output_index": idx, "item": pending})
		for _, st := range []string{"in_progress", "searching", "completed"} {
			out = s.event(out, "response.file_search_call."+st, map[string]any{"output_index": idx, "item_id": c.ID})
		}
		out = s.event(out, "response.output_item.done", map[string]any{"output_index": idx, "item": c})
	}
	return out
}

func (s *responseStream) Chunk(c *llm.Chunk) ([]byte, error) {
	if c.Usage != nil {
		u := *c.Usage
		s.usage = &u
	}
	if !c.HasContent && c.Usage != nil {
		return nil, nil
	}
	var w responseChunkWire
	if err := json.Unmarshal(c.Data, &w); err != nil {
		return nil, &llm.Error{Kind: llm.KindStreamBroken, Model: c.Model, Message: "a chunk of the upstream's stream is not valid JSON"}
	}
	out := s.start(nil)
	for _, ch := range w.Choices {
		if ch.Index != 0 {
			continue // one choice only: the request asks for one
		}
		d := ch.Delta
		if d.Content != nil && *d.Content != "" {
			out = s.text(out, *d.Content)
		}
		if d.Refusal != nil && *d.Refusal != "" {
			out = s.text(out, *d.Refusal)
		}
		for _, tc := range d.ToolCalls {
			idx := len(s.calls)
			if tc.Index != nil {
				idx = *tc.Index
			}
			args := ""
			if tc.Function.Arguments != nil {
				args = *tc.Function.Arguments
			}
			out = s.callDelta(out, idx, tc.ID, tc.Function.Name, args)
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			s.finish = *ch.FinishReason
		}
	}
	return out, nil
}

func (s *responseStream) text(out []byte, delta string) []byte {
	if s.msg == nil {
		s.msg = &openMessage{id: newID("msg_"), index: len(s.items)}
		s.items = append(s.items, nil)
		out = s.event(out, "response.output_item.added", map[string]any{"output_index": s.msg.index,
			"item": messageOut{Type: "message", ID: s.msg.id, Status: "in_progress", Role: "assistant", Content: []outputText{}}})
		out = s.event(out, "response.content_part.added", map[string]any{"output_index": s.msg.index, "item_id": s.msg.id,
			"content_index": 0, "part": outputText{Type: "output_text", Annotations: []annotation{}, Logprobs: []any{}}})
	}
	if delta == "" {
		return out
	}
	s.msg.text.WriteString(delta)
	return s.event(out, "response.output_text.delta", map[string]any{"output_index": s.msg.index, "item_id": s.msg.id,
		"content_index": 0, "delta": delta, "logprobs": []any{}})
}

// closeMessage ends the open message, if any.
func (s *responseStream) closeMessage(out []byte) []byte {
	m := s.msg
	if m == nil {
		return out
	}
	s.msg = nil
	item := s.t.message(m.id, m.text.String(), "completed")
	text := item.Content[0]
	for i, a := range text.Annotations {
		out = s.event(out, "response.output_text.annotation.added", map[string]any{"output_index": m.index, "item_id": m.id,
			"content_index": 0, "annotation_index": i, "annotation": a})
	}
	out = s.event(out, "response.output_text.done", map[string]any{"output_index": m.index, "item_id": m.id,
		"content_index": 0, "text": text.Text, "logprobs": []any{}})
	out = s.event(out, "response.content_part.done", map[string]any{"output_index": m.index, "item_id": m.id,
		"content_index": 0, "part": text})
	s.items[m.index] = item
	return s.event(out, "response.output_item.done", map[string]any{"output_index": m.index, "item": item})
}

func (s *responseStream) callDelta(out []byte, idx int, id, name, args string) []byte {
	c, ok := s.calls[idx]
	if !ok {
		// A call follows the text: the message is done.
		out = s.closeMessage(out)
		c = &openCall{index: len(s.items), item: functionCallOut{Type: "function_call", ID: newID("fc_"), CallID: callID(id), Name: name, Status: "in_progress"}}
		s.items = append(s.items, nil)
		s.calls[idx] = c
		out = s.event(out, "response.output_item.added", map[string]any{"output_index": c.index, "item": c.item})
	}
	if args == "" {
		return out
	}
	c.args.WriteString(args)
	return s.event(out, "response.function_call_arguments.delta", map[string]any{"output_index": c.index, "item_id": c.item.ID, "delta": args})
}

// closeCalls ends the open function calls, in output order.
func (s *responseStream) closeCalls(out []byte) []byte {
	open := make([]*openCall, 0, len(s.calls))
	for _, c := range s.calls {
		open = append(open, c)
	}
	slices.SortFunc(open, func(a, b *openCall) int { return a.index - b.index })
	for _, c := range open {
		c.item.Arguments, c.item.Status = c.args.String(), "completed"
		out = s.event(out, "response.function_call_arguments.done", map[string]any{"output_index": c.index, "item_id": c.item.ID,
			"name": c.item.Name, "arguments": c.item.Arguments})
		s.items[c.index] = c.item
		out = s.event(out, "response.output_item.done", map[string]any{"output_index": c.index, "item": c.item})
	}
	clear(s.calls)
	return out
}

func (s *responseStream) End() []byte {
	out := s.start(nil)
	if s.msg == nil && len(s.calls) == 0 && !s.hasAnswer() {
		out = s.text(out, "") // an empty answer is an empty message, as a plain one is
	}
	out = s.closeMessage(out)
	out = s.closeCalls(out)
	r := s.t.response(s.items, cmp.Or(s.finish, "stop"), s.usage)
	if s.usage == nil {
		r.Usage = &usageOut{}
	}
	b, err := json.Marshal(r)
	if err != nil { // cannot happen: see event
		panic(err)
	}
	s.t.save(s.items, b)
	typ := "response.completed"
	if r.Status == "incomplete" {
		typ = "response.incomplete"
	}
	return s.event(out, typ, map[string]any{"response": json.RawMessage(b)})
}

// hasAnswer reports whether an output item other than file_search_call
// was added.
func (s *responseStream) hasAnswer() bool {
	for _, it := range s.items {
		if _, ok := it.(fileSearchCallOut); !ok {
			return true
		}
	}
	return false
}

func (s *responseStream) Error(e *api.Error) []byte {
	e = responsesError(e)
	out := s.start(nil)
	done := make([]any, 0, len(s.items))
	for _, it := range s.items {
		if it != nil {
			done = append(done, it)
		}
	}
	r := s.t.response(done, "failed", s.usage)
	r.Status = "failed"
	code := e.Code
	if code == "" {
		code = e.Type
	}
	r.Error = &responseError{Code: code, Message: e.Message}
	out = s.event(out, "response.failed", map[string]any{"response": r})
	fields := map[string]any{"code": code, "message": e.Message, "param": nil}
	if e.Param != "" {
		fields["param"] = e.Param
	}
	return s.event(out, "error", fields)
}
