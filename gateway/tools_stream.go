package gateway

import (
	"context"
	"encoding/json"
	"io"
	"strings"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/tools"
)

// toolStream wraps s with tc's checks (tools.go), or returns s when
// nothing governs the request.
func (g *Gateway) toolStream(ctx context.Context, rq *request, tc *toolCheck, s llm.Stream) llm.Stream {
	if tc == nil || (!tc.pol.Tools && (!tc.pol.Format || tc.req.Format == nil)) {
		return s
	}
	return &checkedStream{Stream: s, g: g, ctx: ctx, rq: rq, tc: tc, calls: map[[2]int]int{}, text: map[int]*strings.Builder{}}
}

// checkedStream holds back tool-call deltas (and, with a validated
// response format, each choice's finish chunk) until their choice
// finishes and its calls or text pass. It is used by one goroutine, as
// streams are.
type checkedStream struct {
	llm.Stream
	g   *Gateway
	ctx context.Context
	rq  *request
	tc  *toolCheck

	answer tools.Answer
	calls  map[[2]int]int // (choice, delta index) → index in answer.Calls
	text   map[int]*strings.Builder
	open   map[int]bool // choices with calls not yet finished
	done   map[int]bool // choices finished
	ended  bool         // the upstream ended the stream
	held   []*llm.Chunk // held back, in order
	ready  []*llm.Chunk // released, to return in order
	err    error        // sticky
	noted  bool
}

type streamDelta struct {
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content   *string `json:"content"`
			ToolCalls []struct {
				Index    *int   `json:"index"`
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
			FunctionCall *struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"`
			} `json:"function_call"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
}

func (s *checkedStream) Recv() (*llm.Chunk, error) {
	for {
		if len(s.ready) > 0 {
			ch := s.ready[0]
			s.ready = s.ready[1:]
			return ch, nil
		}
		if s.err != nil {
			return nil, s.err
		}
		ch, err := s.Stream.Recv()
		if err == io.EOF {
			// Ended: whatever is held is checked now, finished or not.
			s.open, s.ended = nil, true
			if verr := s.verify(); verr != nil {
				s.err = verr
				continue
			}
			s.ready, s.held, s.err = s.held, nil, io.EOF
			s.note(nil)
			continue
		}
		if err != nil {
			s.err = err
			return nil, err
		}
		var d streamDelta
		if !ch.HasContent || json.Unmarshal(ch.Data, &d) != nil {
			if len(s.held) == 0 {
				return ch, nil
			}
			s.held = append(s.held, ch)
			continue
		}
		hold, finished := s.read(&d)
		if !hold && len(s.held) == 0 {
			return ch, nil
		}
		s.held = append(s.held, ch)
		if !finished {
			continue
		}
		if verr := s.verify(); verr != nil {
			s.err = verr
			continue
		}
		if len(s.open) == 0 {
			s.ready, s.held = s.held, nil
		}
	}
}

// read adds a chunk's deltas to the answer so far; hold reports whether
// the chunk must be held back, finished whether it finishes a choice
// whose calls or text are to be checked.
func (s *checkedStream) read(d *streamDelta) (hold, finished bool) {
	format := s.tc.pol.Format && s.tc.req.Format != nil
	for _, c := range d.Choices {
		s.answer.Choices = max(s.answer.Choices, c.Index+1)
		if c.Delta.Content != nil && format {
			b := s.text[c.Index]
			if b == nil {
				b = &strings.Builder{}
				s.text[c.Index] = b
			}
			b.WriteString(*c.Delta.Content)
		}
		for i, tc := range c.Delta.ToolCalls {
			idx := i
			if tc.Index != nil {
				idx = *tc.Index
			}
			s.add(c.Index, idx, tc.ID, tc.Function.Name, tc.Function.Arguments)
			hold = true
		}
		if f := c.Delta.FunctionCall; f != nil {
			s.add(c.Index, 0, "", f.Name, f.Arguments)
			hold = true
		}
		if c.FinishReason != nil && *c.FinishReason != "" {
			if s.open[c.Index] || format {
				hold, finished = true, true
			}
			delete(s.open, c.Index)
			if s.done == nil {
				s.done = map[int]bool{}
			}
			s.done[c.Index] = true
		}
	}
	return hold, finished
}

// add appends a tool call delta to the call it belongs to.
func (s *checkedStream) add(choice, idx int, id, name, args string) {
	if s.open == nil {
		s.open = map[int]bool{}
	}
	s.open[choice] = true
	k := [2]int{choice, idx}
	at, ok := s.calls[k]
	if !ok {
		at = len(s.answer.Calls)
		s.calls[k] = at
		s.answer.Calls = append(s.answer.Calls, tools.Call{Choice: choice, Index: at})
	}
	c := &s.answer.Calls[at]
	if id != "" {
		c.ID = id
	}
	c.Name += name
	c.Arguments += args
}

// verify checks the calls of the finished choices and the text of every
// choice so far; it returns the error the stream ends with, or nil.
func (s *checkedStream) verify() error {
	var vs []tools.Violation
	if s.tc.pol.Tools {
		var done []tools.Call
		for _, c := range s.answer.Calls {
			if !s.open[c.Choice] {
				done = append(done, c)
			}
		}
		vs = s.tc.pol.CheckCalls(s.tc.req, done)
	}
	if s.tc.pol.Format && s.tc.req.Format != nil {
		a := tools.Answer{Choices: s.answer.Choices, Contents: map[int]string{}}
		for i, b := range s.text {
			if s.ended || s.done[i] {
				a.Contents[i] = b.String()
			}
		}
		vs = append(vs, s.tc.req.CheckFormat(&a)...)
	}
	if len(vs) == 0 {
		return nil
	}
	s.held = nil
	s.tc.report.Violation, s.tc.report.Failed = vs[0].Code, true
	s.note(vs)
	s.g.metrics.RecordToolReask(s.rq.alias, vs[0].Code, "error")
	return tools.AnswerError(vs, false)
}

// note records the stream's tool calls once.
func (s *checkedStream) note(vs []tools.Violation) {
	if s.noted {
		return
	}
	s.noted = true
	s.g.noteCalls(s.ctx, s.rq, &s.answer, vs, false, &Outcome{Tools: s.tc.report})
}
