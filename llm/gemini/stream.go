package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/oai"
	"github.com/bulwark-ai/bulwark/llm/sse"
	"github.com/bulwark-ai/bulwark/llm/upstream"
)

// Stream starts a streaming chat completion: POST
// {base}/models/{model}:streamGenerateContent?alt=sse with the request
// translated. Gemini answers a blocked prompt with a 200 stream whose first
// event says so, so Stream reads the first event before it returns: a
// blocked prompt, an error object or a broken first event is returned here
// as an *llm.Error, where it can still be retried or fall back, like a
// non-2xx answer.
func (c *Client) Stream(ctx context.Context, req *llm.ChatRequest) (llm.Stream, error) {
	body, err := c.chatBody(req)
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, req.Model, "streamGenerateContent", body, true)
	if err != nil {
		return nil, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		// An error (or a whole answer) where a stream was asked for.
		b, err := c.errs().ReadBody(ctx, resp, req.Model, maxResponseBytes)
		if err != nil {
			return nil, err
		}
		var w genResponse
		switch {
		case json.Unmarshal(b, &w) != nil:
		case isPresent(w.Error):
			return nil, c.eventError(w.Error, req.Model)
		case len(w.Candidates) == 0 && w.PromptFeedback != nil && w.PromptFeedback.BlockReason != "":
			return nil, c.blockError(req.Model, w.PromptFeedback)
		}
		e := c.errorf(llm.KindServer, req.Model, nil, "upstream answered a stream request with a JSON document")
		e.Status = resp.StatusCode
		return nil, e
	}
	s := newStream(ctx, c, req.Model, resp.Body)
	for len(s.pending) == 0 && s.err == nil {
		s.fill()
	}
	if len(s.pending) == 0 && s.err != io.EOF {
		s.Close()
		return nil, s.err
	}
	return s, nil
}

// newStream reads the event stream body.
func newStream(ctx context.Context, c *Client, model string, body io.ReadCloser) *stream {
	return &stream{
		c:         c,
		ctx:       ctx,
		model:     model,
		body:      body,
		r:         sse.NewReader(body, maxEventBytes),
		closeBody: sync.OnceValue(body.Close),
	}
}

// stream is an open Gemini SSE answer, translated event by event into
// OpenAI chunks: the role first, then text and tool calls as they come,
// the finish reason, and at the end of the body the usage. Recv is used by
// one goroutine; Close may be called from any goroutine, more than once.
type stream struct {
	c     *Client
	ctx   context.Context
	model string
	body  io.ReadCloser
	r     *sse.Reader
	enc   oai.ChunkEncoder
	// started is set once the role chunk was queued.
	started bool
	// calls counts the tool calls so far (the next call's index).
	calls int
	// finished is set once a finish reason was queued: the body may then
	// end.
	finished bool
	// usage is the latest usageMetadata (the last event has the totals).
	usage *llm.Usage
	// pending are chunks decoded but not yet returned.
	pending []*llm.Chunk
	// err is the sticky result once the stream ended (io.EOF or
	// *llm.Error); pending chunks are returned before it.
	err       error
	closed    atomic.Bool
	closeOnce sync.Once
	closeBody func() error
}

// Recv returns the next chunk, io.EOF after a proper end, or an *llm.Error.
func (s *stream) Recv() (*llm.Chunk, error) {
	for {
		if s.err == nil {
			if s.closed.Load() {
				s.fail(s.c.errorf(llm.KindCanceled, s.model, nil, "stream closed"))
			} else if k, ok := upstream.ContextKind(s.ctx, nil); ok {
				s.fail(s.c.errorf(k, s.model, s.ctx.Err(), "stream: %v", s.ctx.Err()))
			}
		}
		if len(s.pending) > 0 {
			ch := s.pending[0]
			s.pending[0] = nil
			s.pending = s.pending[1:]
			return ch, nil
		}
		if s.err != nil {
			return nil, s.err
		}
		s.fill()
	}
}

// fail ends the stream with err, dropping what was pending, and releases
// the body.
func (s *stream) fail(err error) {
	s.err, s.pending = err, nil
	s.closeBody()
}

// fill reads one event and queues its chunks, or ends the stream.
func (s *stream) fill() {
	_, data, err := s.r.Next()
	if err != nil {
		s.end(err)
		return
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return // a keep-alive
	}
	s.decode(data)
}

// end maps the end of the body. A clean end is a proper end only once a
// finish reason was seen: Gemini's streams have no end marker.
func (s *stream) end(err error) {
	switch k, ok := upstream.ContextKind(s.ctx, err); {
	case s.closed.Load():
		s.fail(s.c.errorf(llm.KindCanceled, s.model, nil, "stream closed"))
	case ok:
		s.fail(s.c.errorf(k, s.model, err, "stream: %v", err))
	case err == io.EOF && s.finished:
		if s.usage != nil {
			s.pending = append(s.pending, s.enc.Usage(*s.usage))
		}
		s.err = io.EOF
		s.closeBody()
	case err == io.EOF:
		s.fail(broke(s.c.errorf(llm.KindStreamBroken, s.model, nil, "stream ended before a finish reason"), llm.BreakCut))
	case errors.Is(err, sse.ErrEventTooLong):
		s.fail(broke(s.c.errorf(llm.KindStreamBroken, s.model, err, "stream event exceeds %d bytes", maxEventBytes), llm.BreakMalformed))
	default:
		s.fail(broke(s.c.errorf(llm.KindStreamBroken, s.model, err, "stream cut: %v", err), llm.BreakCut))
	}
}

// broke marks e as the break b of a stream.
func broke(e *llm.Error, b llm.Break) *llm.Error {
	e.Break = b
	return e
}

// decode translates one event, a GenerateContentResponse, into chunks.
func (s *stream) decode(data []byte) {
	var w genResponse
	if data[0] != '{' {
		s.fail(broke(s.c.errorf(llm.KindStreamBroken, s.model, nil, "malformed stream event: not a JSON object"), llm.BreakMalformed))
		return
	}
	if err := json.Unmarshal(data, &w); err != nil {
		s.fail(broke(s.c.errorf(llm.KindStreamBroken, s.model, err, "malformed stream event: %v", err), llm.BreakMalformed))
		return
	}
	if isPresent(w.Error) {
		s.fail(broke(s.c.eventError(w.Error, s.model), llm.BreakErrorEvent))
		return
	}
	if s.enc.ID == "" {
		s.enc = oai.ChunkEncoder{ID: responseID(w.ResponseID), Model: w.ModelVersion, Created: time.Now().Unix()}
		if s.enc.Model == "" {
			s.enc.Model = s.model
		}
	}
	if w.UsageMetadata != nil {
		u := w.UsageMetadata.usage()
		s.usage = &u
	}
	cand := firstCandidate(w.Candidates)
	if cand == nil {
		if pf := w.PromptFeedback; pf != nil && pf.BlockReason != "" {
			e := s.c.blockError(s.model, pf)
			if s.started {
				e.Break = llm.BreakErrorEvent
			}
			s.fail(e)
		}
		return // an event with usage only
	}
	if s.finished {
		return // nothing may follow the finish reason but usage
	}
	if !s.started {
		s.started = true
		s.pending = append(s.pending, s.enc.Role())
	}
	if cand.Content != nil {
		for i := range cand.Content.Parts {
			p := &cand.Content.Parts[i]
			switch {
			case p.Thought:
			case p.FunctionCall != nil:
				s.pending = append(s.pending,
					s.enc.ToolCallStart(s.calls, callID(p.FunctionCall), p.FunctionCall.Name),
					s.enc.ToolCallArgs(s.calls, argsText(p.FunctionCall.Args)))
				s.calls++
			case p.Text != "":
				s.pending = append(s.pending, s.enc.Text(p.Text))
			}
		}
	}
	if cand.FinishReason != "" {
		reason, ok := finish(cand.FinishReason, s.calls > 0)
		if !ok {
			s.fail(broke(s.c.finishError(s.model, cand), llm.BreakErrorEvent))
			return
		}
		s.finished = true
		s.pending = append(s.pending, s.enc.Finish(reason))
	}
}

// firstCandidate returns the candidate of index 0, nil when there is none.
func firstCandidate(cs []candidate) *candidate {
	for i := range cs {
		if cs[i].Index == 0 {
			return &cs[i]
		}
	}
	return nil
}

// Close releases the stream.
func (s *stream) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.closeBody()
	})
	return nil
}
