package openai

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
	"github.com/bulwark-ai/bulwark/llm/sse"
	up "github.com/bulwark-ai/bulwark/llm/upstream"
)

// drainTimeout bounds how long Close waits for the end of a body after
// [DONE], so that the connection can be reused.
const drainTimeout = 50 * time.Millisecond

// Stream starts a streaming chat completion: the client's body with model
// replaced, stream true and stream_options.include_usage true (the client's
// other stream options kept). It returns once the response headers arrived;
// a non-2xx answer is returned here as an *llm.Error.
func (c *Client) Stream(ctx context.Context, req *llm.ChatRequest) (llm.Stream, error) {
	body, err := chatBody(req, true)
	if err != nil {
		return nil, c.errorf(llm.KindBadRequest, req.Model, err, "%v", err)
	}
	resp, err := c.post(ctx, "/chat/completions", req.Model, body, true)
	if err != nil {
		return nil, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		// An error (or a whole completion) where a stream was asked for.
		b, err := c.errs().ReadBody(ctx, resp, req.Model, maxResponseBytes)
		if err != nil {
			return nil, err
		}
		var w struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(b, &w) == nil && isPresent(w.Error) {
			return nil, c.eventError(b, req.Model)
		}
		return nil, c.errorf(llm.KindServer, req.Model, nil, "upstream answered a stream request with a JSON document")
	}
	return newStream(ctx, c, req.Model, resp.Body), nil
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

// stream is an open SSE chat completion. Recv is used by one goroutine;
// Close may be called from any goroutine, more than once.
type stream struct {
	c     *Client
	ctx   context.Context
	model string
	body  io.ReadCloser
	r     *sse.Reader
	// sawFinish is set once a chunk carried a finish_reason.
	sawFinish bool
	// lastModel is the model the previous chunk named.
	lastModel string
	// err is the sticky result once the stream ended (io.EOF or *llm.Error).
	err error
	// done is set when [DONE] was read, for Close to drain the body.
	done      atomic.Bool
	closed    atomic.Bool
	closeOnce sync.Once
	closeBody func() error
}

// Recv returns the next chunk, io.EOF after a proper end, or an *llm.Error.
func (s *stream) Recv() (*llm.Chunk, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.closed.Load() {
		return nil, s.fail(s.c.errorf(llm.KindCanceled, s.model, nil, "stream closed"))
	}
	if k, ok := up.ContextKind(s.ctx, nil); ok {
		return nil, s.fail(s.c.errorf(k, s.model, s.ctx.Err(), "stream: %v", s.ctx.Err()))
	}
	for {
		event, data, err := s.r.Next()
		if err != nil {
			return nil, s.fail(s.readError(err))
		}
		data = bytes.TrimSpace(data)
		switch {
		case len(data) == 0:
			continue // a keep-alive
		case string(data) == "[DONE]":
			s.done.Store(true)
			s.err = io.EOF
			return nil, io.EOF
		case string(event) == "error":
			return nil, s.fail(broke(s.c.eventError(data, s.model), llm.BreakErrorEvent))
		}
		ch, err := s.decode(data)
		if err != nil {
			return nil, s.fail(err)
		}
		if ch == nil {
			continue
		}
		return ch, nil
	}
}

// fail records err as the stream's end, releases the body and returns err.
func (s *stream) fail(err error) error {
	s.err = err
	s.closeBody()
	return err
}

// readError maps the end of the body. A clean end is a proper end only if
// a finish_reason was seen (servers that omit [DONE]).
func (s *stream) readError(err error) error {
	if s.closed.Load() {
		return s.c.errorf(llm.KindCanceled, s.model, nil, "stream closed")
	}
	if k, ok := up.ContextKind(s.ctx, err); ok {
		return s.c.errorf(k, s.model, err, "stream: %v", err)
	}
	switch {
	case err == io.EOF && s.sawFinish:
		return io.EOF
	case err == io.EOF:
		return broke(s.c.errorf(llm.KindStreamBroken, s.model, nil, "stream ended before [DONE] and before a finish reason"), llm.BreakCut)
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

// decode turns one event into a Chunk. It returns nil, nil for an event to
// skip, and an *llm.Error for an error event or one that is not a JSON
// object.
func (s *stream) decode(data []byte) (*llm.Chunk, error) {
	if data[0] != '{' {
		return nil, broke(s.c.errorf(llm.KindStreamBroken, s.model, nil, "malformed stream event: not a JSON object"), llm.BreakMalformed)
	}
	f, ok := chunkFields{}, false
	if json.Valid(data) {
		f, ok = scanChunk(data, s.lastModel)
	}
	if !ok {
		var err error
		if f, err = decodeChunkJSON(data); err != nil {
			return nil, broke(s.c.errorf(llm.KindStreamBroken, s.model, err, "malformed stream event: %v", err), llm.BreakMalformed)
		}
	}
	if f.choices == 0 && f.hasError {
		return nil, broke(s.c.eventError(data, s.model), llm.BreakErrorEvent)
	}
	s.lastModel = f.model
	ch := &llm.Chunk{
		Data:         bytes.Clone(data),
		Model:        f.model,
		HasContent:   f.hasContent,
		FinishReason: f.finish,
	}
	if ch.FinishReason != "" {
		s.sawFinish = true
	}
	if f.usage != nil {
		u := f.usage.usage()
		ch.Usage = &u
	}
	return ch, nil
}

// Close releases the stream. After a proper [DONE] it first reads what is
// left of the body for a short while, so that the connection can be reused.
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

type wireChunk struct {
	Model   string `json:"model"`
	Choices []struct {
		Delta        wireDelta  `json:"delta"`
		FinishReason nullString `json:"finish_reason"`
	} `json:"choices"`
	Usage *wireUsage      `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// wireDelta holds the delta fields that carry output, left raw: only whether
// they are empty matters.
type wireDelta struct {
	Role             json.RawMessage `json:"role"`
	Content          json.RawMessage `json:"content"`
	Refusal          json.RawMessage `json:"refusal"`
	ToolCalls        json.RawMessage `json:"tool_calls"`
	FunctionCall     json.RawMessage `json:"function_call"`
	ReasoningContent json.RawMessage `json:"reasoning_content"` // vLLM, DeepSeek
	Reasoning        json.RawMessage `json:"reasoning"`         // Ollama, OpenRouter
}

func (d *wireDelta) hasContent() bool {
	for _, f := range [...]json.RawMessage{d.Content, d.Role, d.ToolCalls, d.Refusal, d.FunctionCall, d.ReasoningContent, d.Reasoning} {
		if nonEmpty(f) {
			return true
		}
	}
	return false
}

// nonEmpty reports whether raw is a JSON value other than null, "", [] and
// {}.
func nonEmpty(raw json.RawMessage) bool {
	switch string(raw) {
	case "", "null", `""`, "[]", "{}":
		return false
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) >= 2 && (raw[0] == '[' || raw[0] == '{') {
		return len(bytes.TrimSpace(raw[1:len(raw)-1])) > 0
	}
	return len(raw) > 0 && string(raw) != "null"
}
