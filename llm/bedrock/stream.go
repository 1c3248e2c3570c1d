package bedrock

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/oai"
)

// eventStream is what a stream reads: the SDK's ConverseStreamEventStream
// (an interface so that tests can feed events).
type eventStream interface {
	Events() <-chan types.ConverseStreamOutput
	Err() error
	Close() error
}

// Stream starts a chat completion with ConverseStream. It returns once the
// first output (or the end) has arrived, so that everything that fails
// before any output, an exception event included, fails here.
func (c *Client) Stream(ctx context.Context, req *llm.ChatRequest) (llm.Stream, error) {
	in, err := c.converseInput(req)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	out, err := c.rt.ConverseStream(sctx, streamInput(in))
	if err != nil {
		cancel()
		return nil, c.apiError(ctx, req.Model, err)
	}
	s := c.newStream(sctx, cancel, req.Model, requestID(out.ResultMetadata), out.GetStream())
	if err := s.prime(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (c *Client) newStream(ctx context.Context, cancel context.CancelFunc, model, id string, es eventStream) *stream {
	return &stream{
		c: c, model: model, ctx: ctx, cancel: cancel, es: es, events: es.Events(),
		enc:   oai.ChunkEncoder{ID: oai.ID(id), Model: model, Created: time.Now().Unix()},
		tools: make(map[int32]int),
	}
}

// stream is an open ConverseStream: an llm.Stream that turns each event
// into OpenAI chunks.
type stream struct {
	c      *Client
	model  string
	ctx    context.Context
	cancel context.CancelFunc
	es     eventStream
	events <-chan types.ConverseStreamOutput
	enc    oai.ChunkEncoder

	queue []*llm.Chunk // chunks made and not yet returned
	err   error        // sticky: io.EOF or the *llm.Error that ended the stream

	role    bool          // the role chunk was made
	output  bool          // text or a tool call was made
	stopped bool          // messageStop was read
	usage   bool          // metadata was read
	tools   map[int32]int // content block index → tool call index
}

var _ llm.Stream = (*stream)(nil)

// prime reads events until the first output, the finish or an error.
func (s *stream) prime() error {
	for !s.output && !s.stopped {
		if err := s.step(); err != nil {
			s.end(err)
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
	return nil
}

// Recv returns the next chunk. Once the context has ended, chunks already
// read are dropped: it returns the context's error.
func (s *stream) Recv() (*llm.Chunk, error) {
	for {
		if s.err == nil && s.ctx.Err() != nil {
			s.queue = nil
			s.end(s.c.ctxError(s.model, s.ctx.Err()))
		}
		if len(s.queue) > 0 {
			ch := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			return ch, nil
		}
		if s.err != nil {
			return nil, s.err
		}
		if err := s.step(); err != nil {
			s.end(err)
		}
	}
}

// end records the error that ends the stream and releases it.
func (s *stream) end(err error) {
	s.err = err
	s.cancel()
	s.es.Close()
}

// Close ends the stream; a Recv waiting in another goroutine returns
// KindCanceled.
func (s *stream) Close() error {
	s.cancel()
	s.es.Close()
	return nil
}

// step reads one event and queues its chunks. It returns io.EOF at a
// proper end and an *llm.Error for any other.
func (s *stream) step() error {
	select {
	case <-s.ctx.Done():
		return s.c.ctxError(s.model, s.ctx.Err())
	case ev, ok := <-s.events:
		if !ok {
			return s.finish()
		}
		return s.handle(ev)
	}
}

// finish says how the event stream ended: properly only after messageStop
// and metadata. Once both have arrived the answer is whole, and an error
// reading past them (the connection closing under the decoder as the
// response ends) loses nothing: it is a proper end.
func (s *stream) finish() error {
	if err := s.ctx.Err(); err != nil {
		return s.c.ctxError(s.model, err)
	}
	if err := s.es.Err(); err != nil && !(s.stopped && s.usage) {
		return s.c.streamError(s.model, err)
	}
	if !s.stopped || !s.usage {
		return &llm.Error{Kind: llm.KindStreamBroken, Status: http.StatusOK, Provider: s.c.name, Model: s.model,
			Break: llm.BreakCut, Message: "stream cut: the event stream ended before messageStop and metadata"}
	}
	return io.EOF
}

func (s *stream) push(ch *llm.Chunk) { s.queue = append(s.queue, ch) }

func (s *stream) roleChunk() {
	if !s.role {
		s.role = true
		s.push(s.enc.Role())
	}
}

// tool returns the tool call index of a content block, starting the call
// when the block had no contentBlockStart.
func (s *stream) tool(block int32, id, name string) (int, bool) {
	if i, ok := s.tools[block]; ok {
		return i, false
	}
	i := len(s.tools)
	s.tools[block] = i
	s.roleChunk()
	s.push(s.enc.ToolCallStart(i, id, name))
	s.output = true
	return i, true
}

// handle queues the chunks of one event.
func (s *stream) handle(ev types.ConverseStreamOutput) error {
	switch v := ev.(type) {
	case *types.ConverseStreamOutputMemberMessageStart:
		s.roleChunk()
	case *types.ConverseStreamOutputMemberContentBlockStart:
		if tu, ok := v.Value.Start.(*types.ContentBlockStartMemberToolUse); ok {
			s.tool(aws.ToInt32(v.Value.ContentBlockIndex), aws.ToString(tu.Value.ToolUseId), aws.ToString(tu.Value.Name))
		}
	case *types.ConverseStreamOutputMemberContentBlockDelta:
		switch d := v.Value.Delta.(type) {
		case *types.ContentBlockDeltaMemberText:
			if d.Value != "" {
				s.roleChunk()
				s.push(s.enc.Text(d.Value))
				s.output = true
			}
		case *types.ContentBlockDeltaMemberToolUse:
			i, _ := s.tool(aws.ToInt32(v.Value.ContentBlockIndex), "", "")
			if in := aws.ToString(d.Value.Input); in != "" {
				s.push(s.enc.ToolCallArgs(i, in))
			}
		}
	case *types.ConverseStreamOutputMemberMessageStop:
		if s.stopped {
			break
		}
		s.stopped = true
		reason := finishReason(v.Value.StopReason)
		if reason == oai.FinishContentFilter && !s.output {
			return s.c.contentFilterError(s.model, v.Value.StopReason)
		}
		s.roleChunk()
		s.push(s.enc.Finish(reason))
	case *types.ConverseStreamOutputMemberMetadata:
		if s.usage {
			break
		}
		s.usage = true
		s.push(s.enc.Usage(usage(v.Value.Usage)))
	}
	// contentBlockStop, reasoning and citation deltas, and events newer
	// than this package carry nothing for an OpenAI client.
	return nil
}
