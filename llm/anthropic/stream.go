package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/oai"
	"github.com/bulwark-ai/bulwark/llm/sse"
	up "github.com/bulwark-ai/bulwark/llm/upstream"
)

// drainTimeout bounds how long Close waits for the end of a body after
// message_stop, so that the connection can be reused.
const drainTimeout = 50 * time.Millisecond

// Stream starts a streaming chat completion. It returns once the response
// headers arrived; a non-2xx answer is returned here as an *llm.Error.
// The stream's chunks are OpenAI chat.completion.chunk events translated
// from Anthropic's: the role first, text and tool-call deltas, the finish
// reason, then usage.
func (c *Client) Stream(ctx context.Context, req *llm.ChatRequest) (llm.Stream, error) {
	body, err := c.buildRequest(req, true)
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, req.Model, body, true)
	if err != nil {
		return nil, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		// An error (or a whole message) where a stream was asked for.
		b, err := c.errs().ReadBody(ctx, resp, req.Model, maxResponseBytes)
		if err != nil {
			return nil, err
		}
		var w struct {
			Type  string          `json:"type"`
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(b, &w) == nil && (w.Type == "error" || isPresent(w.Error)) {
			return nil, c.eventError(b, req.Model)
		}
		e := c.errorf(llm.KindServer, req.Model, nil, "upstream answered a stream request with a JSON document")
		e.Status = resp.StatusCode
		return nil, e
	}
	return newStream(ctx, c, req.Model, resp.Body), nil
}

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

// stream is an open Messages API event stream, read as OpenAI chunks.
// Recv is used by one goroutine; Close may be called from any goroutine,
// more than once.
type stream struct {
	c     *Client
	ctx   context.Context
	model string
	body  io.ReadCloser
	r     *sse.Reader
	enc   oai.ChunkEncoder

	started  bool // message_start was read
	finished bool // the finish chunk was made
	// tools maps the index of a tool_use content block to its tool call's
	// index among the answer's tool calls.
	tools  map[int]int
	tok    tokens
	queue  []*llm.Chunk // chunks made from one event, not yet returned
	queued int          // how many of queue were returned
	// err is the sticky result once the stream ended (io.EOF or
	// *llm.Error); chunks still queued are returned first.
	err error
	// done is set when message_stop was read, for Close to drain the body.
	done      atomic.Bool
	closed    atomic.Bool
	closeOnce sync.Once
	closeBody func() error
}

// Recv returns the next chunk, io.EOF after a proper end, or an *llm.Error.
func (s *stream) Recv() (*llm.Chunk, error) {
	if s.err != nil && s.queued == len(s.queue) {
		return nil, s.err
	}
	if s.closed.Load() {
		return nil, s.fail(s.c.errorf(llm.KindCanceled, s.model, nil, "stream closed"))
	}
	if k, ok := up.ContextKind(s.ctx, nil); ok {
		return nil, s.fail(s.c.errorf(k, s.model, s.ctx.Err(), "stream: %v", s.ctx.Err()))
	}
	if ch := s.pop(); ch != nil {
		return ch, nil
	}
	for {
		event, data, err := s.r.Next()
		if err != nil {
			if err == io.EOF && s.finished && !s.closed.Load() && s.ctx.Err() == nil {
				// A clean end after the stop reason but without
				// message_stop: the answer is whole.
				s.end()
				s.err = io.EOF
				s.closeBody()
				return s.pop(), nil
			}
			return nil, s.fail(s.readError(err))
		}
		data = bytes.TrimSpace(data)
		if len(data) == 0 {
			continue
		}
		if err := s.handle(event, data); err != nil {
			return nil, s.fail(err)
		}
		if ch := s.pop(); ch != nil {
			return ch, nil
		}
		if s.err != nil {
			return nil, s.err
		}
	}
}

// pop returns the next queued chunk, or nil.
func (s *stream) pop() *llm.Chunk {
	if s.queued == len(s.queue) {
		return nil
	}
	ch := s.queue[s.queued]
	s.queue[s.queued] = nil
	if s.queued++; s.queued == len(s.queue) {
		s.queue, s.queued = s.queue[:0], 0
	}
	return ch
}

func (s *stream) push(ch *llm.Chunk) { s.queue = append(s.queue, ch) }

// wireEvent is any event of a Messages stream; which members are set
// depends on its type.
type wireEvent struct {
	Type         string               `json:"type"`
	Message      *wireMessageResponse `json:"message"`
	Index        *int                 `json:"index"`
	ContentBlock *wireContent         `json:"content_block"`
	Delta        *wireDelta           `json:"delta"`
	Usage        *wireUsage           `json:"usage"`
	Error        json.RawMessage      `json:"error"`
}

// wireDelta is the delta of a content_block_delta (type, text,
// partial_json) or of a message_delta (stop_reason).
type wireDelta struct {
	Type        string  `json:"type"`
	Text        string  `json:"text"`
	PartialJSON string  `json:"partial_json"`
	StopReason  *string `json:"stop_reason"`
}

// malformed is the error of an event that is not what the protocol allows.
func (s *stream) malformed(format string, args ...any) *llm.Error {
	return broke(s.c.errorf(llm.KindStreamBroken, s.model, nil, "malformed stream event: "+format, args...), llm.BreakMalformed)
}

// handle reads one event, queueing the chunks it makes.
func (s *stream) handle(event, data []byte) error {
	if data[0] != '{' {
		return s.malformed("not a JSON object")
	}
	var ev wireEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		e := s.malformed("%v", err)
		e.Err = err
		return e
	}
	typ := ev.Type
	if typ == "" {
		typ = string(event)
	}
	if typ == "error" || string(event) == "error" {
		return broke(s.c.eventError(data, s.model), llm.BreakErrorEvent)
	}
	if !s.started && typ != "message_start" && typ != "ping" {
		return s.malformed("%q before message_start", typ)
	}
	switch typ {
	case "message_start":
		if s.started || ev.Message == nil {
			return s.malformed("unexpected message_start")
		}
		s.started = true
		m := ev.Message
		s.enc = oai.ChunkEncoder{ID: oai.ID(m.ID), Model: m.Model, Created: time.Now().Unix()}
		if s.enc.Model == "" {
			s.enc.Model = s.model
		}
		s.tok.update(m.Usage)
		s.push(s.enc.Role())
	case "content_block_start":
		if ev.Index == nil || ev.ContentBlock == nil {
			return s.malformed("content_block_start without index or content_block")
		}
		if s.finished {
			return nil
		}
		switch b := ev.ContentBlock; b.Type {
		case "text":
			if b.Text != "" {
				s.push(s.enc.Text(b.Text))
			}
		case "tool_use":
			if s.tools == nil {
				s.tools = make(map[int]int)
			}
			if _, dup := s.tools[*ev.Index]; dup {
				return s.malformed("content block %d started twice", *ev.Index)
			}
			ti := len(s.tools)
			s.tools[*ev.Index] = ti
			s.push(s.enc.ToolCallStart(ti, b.ID, b.Name))
			if args := arguments(b.Input); args != "{}" {
				s.push(s.enc.ToolCallArgs(ti, args))
			}
		}
	case "content_block_delta":
		if ev.Index == nil || ev.Delta == nil {
			return s.malformed("content_block_delta without index or delta")
		}
		if s.finished {
			return nil
		}
		switch d := ev.Delta; d.Type {
		case "text_delta":
			if d.Text != "" {
				s.push(s.enc.Text(d.Text))
			}
		case "input_json_delta":
			ti, ok := s.tools[*ev.Index]
			if !ok {
				return s.malformed("input_json_delta for content block %d, which is not a tool_use block", *ev.Index)
			}
			if d.PartialJSON != "" {
				s.push(s.enc.ToolCallArgs(ti, d.PartialJSON))
			}
		}
	case "message_delta":
		if ev.Usage != nil {
			s.tok.update(*ev.Usage)
		}
		if d := ev.Delta; d != nil && d.StopReason != nil && *d.StopReason != "" && !s.finished {
			s.finished = true
			s.push(s.enc.Finish(finishReason(*d.StopReason)))
		}
	case "message_stop":
		s.end()
		s.done.Store(true)
		s.err = io.EOF
	}
	// ping, content_block_stop and event types added later carry nothing
	// for the client.
	return nil
}

// end queues what closes a whole answer: the finish chunk if no stop
// reason came, and the usage chunk.
func (s *stream) end() {
	if !s.finished {
		s.finished = true
		s.push(s.enc.Finish(oai.FinishStop))
	}
	s.push(s.enc.Usage(s.tok.usage()))
}

// fail records err as the stream's end, drops the chunks not yet
// returned, releases the body and returns err.
func (s *stream) fail(err error) error {
	s.err = err
	clear(s.queue)
	s.queue, s.queued = s.queue[:0], 0
	s.closeBody()
	return err
}

// readError maps the end of the body before a proper end.
func (s *stream) readError(err error) error {
	if s.closed.Load() {
		return s.c.errorf(llm.KindCanceled, s.model, nil, "stream closed")
	}
	if k, ok := up.ContextKind(s.ctx, err); ok {
		return s.c.errorf(k, s.model, err, "stream: %v", err)
	}
	switch {
	case err == io.EOF:
		e := s.c.errorf(llm.KindStreamBroken, s.model, nil, "stream ended before message_stop and before a stop reason")
		e.Status = http.StatusOK
		return broke(e, llm.BreakCut)
	case errors.Is(err, sse.ErrEventTooLong):
		return broke(s.c.errorf(llm.KindStreamBroken, s.model, err, "stream event exceeds %d bytes", maxEventBytes), llm.BreakMalformed)
	}
	return broke(s.c.errorf(llm.KindStreamBroken, s.model, err, "stream cut: %v", err), llm.BreakCut)
}

// broke marks e as the break b of a stream.
func broke(e *llm.Error, b llm.Break) *llm.Error {
	e.Break = b
	return e
}

// Close releases the stream. After message_stop it first reads what is
// left of the body for a short while, so that the connection can be
// reused.
func (s *stream) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.done.Load() {
			t := time.AfterFunc(drainTimeout, func() { s.closeBody() })
			_, _ = io.CopyN(io.Discard, s.body, 64<<10)
			t.Stop()
		}
		s.closeBody()
	})
	return nil
}
