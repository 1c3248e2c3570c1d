package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
)

// openStream is one streaming attempt: it opens the stream on t and reads
// until the first chunk with content (or a proper end), all within the
// route's time-to-first-token limit. On success the returned relay holds
// the chunks read so far and owns the upstream stream.
func openStream(ctx context.Context, r *route.Route, t *route.Target, req *llm.ChatRequest, startBy time.Time) (*relay, error) {
	sctx, cancel := context.WithCancel(ctx)
	var late atomic.Bool
	wait, clients := r.Policy.TTFT, false
	if !startBy.IsZero() && time.Until(startBy) < wait {
		wait, clients = time.Until(startBy), true
	}
	ttft := time.AfterFunc(wait, func() {
		late.Store(true)
		cancel()
	})
	call := *req
	call.Model = t.Model
	s, err := t.Client.Stream(sctx, &call)
	var pending []*llm.Chunk
	if err == nil {
		for {
			var c *llm.Chunk
			if c, err = s.Recv(); err != nil {
				break
			}
			pending = append(pending, c)
			if c.HasContent {
				break
			}
		}
	}
	if !ttft.Stop() && late.Load() { // the limit passed, whatever the stream said since
		why := fmt.Sprintf("no first token within %s", r.Policy.TTFT)
		if clients {
			why = "no first token before the client's deadline"
		}
		err = &llm.Error{Kind: llm.KindTimeout, Provider: t.Provider, Model: t.Model, Message: why}
	}
	rl := &relay{s: s, cancel: cancel, pending: pending, idle: r.Policy.StreamIdle, t: t}
	rl.bill.start(t, &call)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF): // ended properly before any content
		rl.err = io.EOF
	default:
		if s != nil {
			_ = s.Close()
		}
		cancel()
		return nil, err
	}
	return rl, nil
}

// relay is the stream the gateway returns: the chunks read while the
// attempt loop was deciding, then the upstream's, each within the idle
// timeout. It is used by one goroutine.
type relay struct {
	s       llm.Stream
	cancel  context.CancelFunc
	onClose context.CancelFunc
	pending []*llm.Chunk
	idle    time.Duration
	t       *route.Target
	err     error // sticky end of the stream
	closed  bool
	// watch observes the stream until its end (observe.go); set by the
	// attempt that opened it.
	watch *streamWatch
	// idleTimer ends a stalled stream; one per stream, reset before each
	// read, so relaying a chunk allocates no timer.
	idleTimer *time.Timer
	stalled   atomic.Bool
	// rec continues the stream when it breaks (continue.go); nil when its
	// route does not.
	rec *recovery
	// bill is what the stream's upstream calls are billed for (bill.go).
	bill bill
	// cacheRec keeps the chunks to store in the response cache
	// (cache.go); nil when the request is not cacheable.
	cacheRec *streamRecorder
}

// stall ends the upstream call of a stream that sent nothing for r.idle.
func (r *relay) stall() {
	r.stalled.Store(true)
	r.cancel()
}

// Recv returns the next chunk. After an improper end it returns an
// *llm.Error (KindStreamBroken for a stall), never io.EOF. A stream whose
// route continues broken streams is continued here (continue.go) when its
// break allows it.
func (r *relay) Recv() (*llm.Chunk, error) {
	for {
		c, err := r.recv()
		if err == nil {
			r.bill.note(c)
			if r.rec != nil {
				if c = r.rec.deliver(c); c == nil {
					continue // a continuation's role chunk: the client has one
				}
			}
			if r.cacheRec != nil {
				r.cacheRec.chunk(c)
			}
			r.observe(c)
			return c, nil
		}
		if r.rec != nil && !errors.Is(err, io.EOF) {
			if r.cacheRec != nil {
				r.cacheRec.spoilt = true // a continued answer is never cached
			}
			if r.err = r.continueAfter(err); r.err == nil {
				continue
			}
		}
		r.end()
		return nil, r.err
	}
}

// recv returns the next chunk of the current upstream, or its end (also
// kept in r.err).
func (r *relay) recv() (*llm.Chunk, error) {
	if len(r.pending) > 0 {
		c := r.pending[0]
		r.pending = r.pending[1:]
		return c, nil
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.idleTimer == nil {
		r.idleTimer = time.AfterFunc(r.idle, r.stall)
	} else {
		r.idleTimer.Reset(r.idle)
	}
	c, err := r.s.Recv()
	if !r.idleTimer.Stop() && r.stalled.Load() {
		err = &llm.Error{Kind: llm.KindStreamBroken, Provider: r.t.Provider, Model: r.t.Model,
			Message: fmt.Sprintf("the stream stalled: no event for %s", r.idle), Break: llm.BreakIdle}
	}
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, io.EOF):
		r.err = io.EOF
	default:
		e := asLLM(err, r.t)
		if e.Kind != llm.KindCanceled {
			r.t.Health.Breaker.LateFailure()
		}
		r.err = e
	}
	return nil, r.err
}

func (r *relay) observe(c *llm.Chunk) {
	if r.watch != nil {
		r.watch.chunk(c)
	}
}

// end records the stream once it ended: properly (io.EOF), improperly, or
// closed by the client before either (recorded as canceled).
func (r *relay) end() {
	if r.cacheRec != nil { // only a stream that ended properly is stored
		r.cacheRec.end(r.err)
		r.cacheRec = nil
	}
	if r.watch == nil || r.watch.rq == nil {
		r.bill.release() // its text buffer goes back to the pool all the same
		return
	}
	var broken error
	switch {
	case r.err == nil:
		broken = &llm.Error{Kind: llm.KindCanceled, Provider: r.t.Provider, Model: r.t.Model,
			Message: "the client closed the stream before its end"}
	case !errors.Is(r.err, io.EOF):
		broken = r.err
	}
	r.bill.end(broken != nil)
	r.bill.release()
	if r.rec != nil {
		r.rec.ended(r, broken)
	}
	r.watch.calls = r.bill.calls
	r.watch.end(broken)
}

// Close releases the upstream stream and the request's resources.
func (r *relay) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.end()
	var err error
	if r.s != nil {
		err = r.s.Close()
	}
	r.cancel()
	if r.onClose != nil {
		r.onClose()
	}
	return err
}
