package sim

import (
	"context"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
)

// Chat answers a chat completion in-process, with the latencies, limits
// and faults the HTTP API has. The response Body is the exact JSON the HTTP
// API would send.
func (s *Sim) Chat(ctx context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	c, e := s.startChat(ctx, req)
	if e != nil {
		return nil, e
	}
	defer c.release()
	if e := s.awaitAnswer(ctx, c); e != nil {
		return nil, e
	}
	return &llm.ChatResponse{
		Body:          c.appendCompletion(make([]byte, 0, c.completionSize())),
		Model:         c.m.name,
		FinishReasons: c.finishReasons(),
		Usage:         c.usage(),
	}, nil
}

// Stream starts a streamed chat completion in-process. It returns once the
// request is admitted (an error before the first event is returned here);
// the stream's Recv then paces the chunks. The stream always ends with a
// usage chunk, whatever req.IncludeUsage says.
func (s *Sim) Stream(ctx context.Context, req *llm.ChatRequest) (llm.Stream, error) {
	c, e := s.startChat(ctx, req)
	if e != nil {
		return nil, e
	}
	sctx, cancel := context.WithCancel(ctx)
	st := newStreamer(c, true)
	st.script = c.script
	return &stream{ctx: sctx, cancel: cancel, c: c, st: st}, nil
}

// startChat takes a chat request from validation to the point where its
// answer may start: admitted, holding its slot, past the faults that refuse
// it. On error nothing is held.
func (s *Sim) startChat(ctx context.Context, req *llm.ChatRequest) (*call, *llm.Error) {
	if e := checkChat(req); e != nil {
		e.Provider, e.Model = s.name, req.Model
		return nil, e
	}
	c, e := s.chatCall(req)
	if e != nil {
		return nil, e
	}
	if e := s.start(ctx, c); e != nil {
		return nil, e
	}
	return c, nil
}

// start admits c and applies the faults that answer before any output:
// reset, hang, error statuses and the content filter.
func (s *Sim) start(ctx context.Context, c *call) *llm.Error {
	if err := ctx.Err(); err != nil {
		return s.ctxError(c.m, err)
	}
	if e := c.admit(ctx); e != nil {
		return e
	}
	var e *llm.Error
	switch c.fault.kind {
	case faultReset:
		e = s.connectionError(c.m, "connection reset by peer before any response")
	case faultHang:
		<-ctx.Done()
		e = s.ctxError(c.m, ctx.Err())
	default:
		e = c.refusal()
	}
	if e != nil {
		c.release()
	}
	return e
}

// Embed computes embeddings in-process, with the latencies, limits and
// faults of the HTTP API (the mid-stream faults act as on a plain answer).
func (s *Sim) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	if e := checkEmbed(req); e != nil {
		e.Provider, e.Model = s.name, req.Model
		return nil, e
	}
	c, dims, e := s.embedCall(req)
	if e != nil {
		return nil, e
	}
	if e := s.start(ctx, c); e != nil {
		return nil, e
	}
	defer c.release()
	if e := s.awaitAnswer(ctx, c); e != nil {
		return nil, e
	}
	return &llm.EmbedResponse{Vectors: embedAll(c.m, req.Input, dims), Model: c.m.name, Usage: c.usage()}, nil
}

// embedAll embeds every input into one backing array.
func embedAll(m *model, inputs []string, dims int) [][]float32 {
	e := newEmbedder(m)
	flat := make([]float32, len(inputs)*dims)
	out := make([][]float32, len(inputs))
	for i, in := range inputs {
		out[i] = flat[i*dims : (i+1)*dims : (i+1)*dims]
		e.vector(in, out[i])
	}
	return out
}

// awaitAnswer waits out a non-streamed call's delay and returns the error
// its fault makes of the answer, if any: a cut connection or a body that
// is not JSON. It is the in-process form of what the HTTP handler does.
func (s *Sim) awaitAnswer(ctx context.Context, c *call) *llm.Error {
	var t *time.Timer
	if err := sleep(ctx, &t, c.answerDelay()); err != nil {
		return s.ctxError(c.m, err)
	}
	switch c.fault.kind {
	case faultCut:
		return s.connectionError(c.m, "connection closed before the response body was complete")
	case faultMalformed:
		return s.malformedError(c.m)
	}
	return nil
}
