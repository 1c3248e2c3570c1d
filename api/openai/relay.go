package openai

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
)

// DefaultStreamWriteTimeout is how long one write of a stream to a client
// may block when the configuration leaves server.stream_write_timeout zero.
const DefaultStreamWriteTimeout = 30 * time.Second

// SetStreamWriteTimeout sets how long one write of a stream to its client
// may block before the stream is ended (zero: DefaultStreamWriteTimeout,
// negative: no bound). Call it before the Handler serves.
func (h *Handler) SetStreamWriteTimeout(d time.Duration) {
	if d == 0 {
		d = DefaultStreamWriteTimeout
	}
	h.streamWriteTimeout = d
}

// eventWriter writes server-sent events to a client, and bounds how long
// a write may block: a client that stops reading makes a write fail after
// the timeout instead of holding its stream, the upstream call and the
// admission slot behind it forever. It is used by one goroutine at a time.
type eventWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	// flushErr flushes and reports a failed write (http.Flusher drops it).
	flushErr func() error
	timeout  time.Duration
	// renew is when the write deadline is next moved: it is moved only
	// once an eighth of the timeout has passed since it was set, so that a
	// burst of events costs one deadline update rather than one each
	// (on HTTP/2 an update is a message to the connection's goroutine).
	// Every write can therefore block for at least 7/8 of the timeout.
	renew     time.Time
	deadline  bool // a write deadline is set
	unflushed bool // written since the last flush
	buf       []byte
}

func newEventWriter(w http.ResponseWriter, timeout time.Duration) *eventWriter {
	return &eventWriter{w: w, rc: http.NewResponseController(w), flushErr: flushFunc(w), timeout: timeout, buf: make([]byte, 0, 1024)}
}

// flushFunc returns a flush of w that reports a failed write: that of the
// first writer under w (through Unwrap) with FlushError, which net/http's
// own writers have for HTTP/1.1 and HTTP/2; else http.Flusher's.
func flushFunc(w http.ResponseWriter) func() error {
	for v := w; ; {
		if f, ok := v.(interface{ FlushError() error }); ok {
			return f.FlushError
		}
		u, ok := v.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		v = u.Unwrap()
	}
	f, _ := w.(http.Flusher)
	return func() error {
		if f != nil {
			f.Flush()
		}
		return nil
	}
}

// write writes b, which goes out at the next flush (or before, when the
// server's buffer fills).
func (ew *eventWriter) write(b []byte) error {
	if ew.timeout > 0 {
		if now := time.Now(); !now.Before(ew.renew) {
			// A writer that cannot block (a recorder) has no deadlines
			// and needs none.
			if ew.rc.SetWriteDeadline(now.Add(ew.timeout)) == nil {
				ew.deadline = true
			}
			ew.renew = now.Add(ew.timeout / 8)
		}
	}
	ew.unflushed = true
	_, err := ew.w.Write(b)
	return err
}

// event writes one "data:" event.
func (ew *eventWriter) event(data []byte) error {
	ew.buf = append(ew.buf[:0], "data: "...)
	ew.buf = append(ew.buf, data...)
	ew.buf = append(ew.buf, "\n\n"...)
	return ew.write(ew.buf)
}

// flush sends what was written since the last flush.
func (ew *eventWriter) flush() error {
	if !ew.unflushed {
		return nil
	}
	ew.unflushed = false
	return ew.flushErr()
}

// idle clears the write deadline once what was written is flushed. On
// HTTP/2 a write deadline is a timer that resets the stream when it
// fires, whether a write is under way or not, so it must not outlive the
// writes it bounds: an upstream may pause longer than the timeout between
// two events. On HTTP/1.1 it must not bound the next request on the same
// connection. The next write sets it again.
func (ew *eventWriter) idle() {
	if ew.deadline {
		_ = ew.rc.SetWriteDeadline(time.Time{})
		ew.deadline = false
		ew.renew = time.Time{}
	}
}

// maxQueued is how many events the relay holds that the client has not
// been written yet; beyond it, reading the upstream waits for the client.
const maxQueued = 16

// doneData is the data of the event that ends a stream properly.
var doneData = []byte("[DONE]")

// relay writes s's chunks to the client as server-sent events until s ends
// (then "data: [DONE]"), fails (then fail is called with the error) or
// the client does not take a write (the client left or stopped reading:
// the upstream call is canceled through cancel). It returns once nothing
// more is written; the caller closes s.
//
// Writing is decoupled from reading so that events are flushed together
// when they can be, and never held back: this goroutine reads s and
// queues the events, and a writer goroutine, started when an event is
// queued and none runs, writes what is queued, flushes as soon as the
// queue is empty, and ends once nothing is left unflushed. An event
// therefore never waits for a later one; the events of a burst that are
// received while a write is under way go out in one write instead of one
// each; and a stream waiting for its upstream holds no goroutine besides
// this one (10,000 open streams hold no 10,000 extra stacks).
//
// usage reports whether the client asked for the usage chunk. enc, when
// not nil, writes the stream in another API's format (Dialect): every
// chunk is given to it, and what it returns is written as it is.
func relay(ew *eventWriter, s llm.Stream, cancel context.CancelFunc, usage bool, enc StreamEncoder, fail func(error)) {
	q := &eventQueue{ew: ew, cancel: cancel, framed: enc != nil}
	q.room.L = &q.mu
	q.writeFn = q.write // once per stream, not once per writer started
	defer q.writers.Wait()
	for {
		c, err := s.Recv()
		switch {
		case errors.Is(err, io.EOF):
			end := doneData
			if enc != nil {
				end = enc.End()
			}
			if q.push(end) {
				q.writers.Wait()
				if q.err == nil {
					ew.idle()
				}
			}
			return
		case err != nil:
			q.writers.Wait()
			if q.err == nil { // else the error is the cancel of a failed write
				fail(err)
			}
			return
		}
		if enc != nil {
			data, err := enc.Chunk(c)
			if err != nil {
				q.writers.Wait()
				if q.err == nil {
					fail(err)
				}
				return
			}
			if len(data) > 0 && !q.push(data) {
				return
			}
			continue
		}
		if c.Usage == nil || c.HasContent || usage { // else the client did not ask for usage
			if !q.push(c.Data) {
				return
			}
		}
	}
}

// eventQueue hands events from the relay's goroutine to its writer.
type eventQueue struct {
	ew     *eventWriter // used by the writer while one runs, else by the relay
	cancel context.CancelFunc
	// framed: the events are written as they are (a Dialect's), not as
	// the data of "data:" events.
	framed bool

	mu      sync.Mutex
	room    sync.Cond // signalled when the writer takes the queue
	queue   [][]byte
	spare   [][]byte // the writer's batch, reused
	writing bool     // a writer runs
	err     error    // the write that failed; read without mu after writers.Wait
	writers sync.WaitGroup
	writeFn func()
}

// push queues an event, starting a writer if none runs, and waits while
// the queue is full. It reports false once a write failed.
func (q *eventQueue) push(data []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.queue) >= maxQueued && q.err == nil {
		q.room.Wait()
	}
	if q.err != nil {
		return false
	}
	q.queue = append(q.queue, data)
	if !q.writing {
		q.writing = true
		q.writers.Add(1)
		go q.writeFn()
	}
	return true
}

// write writes queued events until the queue is empty and flushed.
func (q *eventQueue) write() {
	defer q.writers.Done()
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			if !q.ew.unflushed {
				if q.ew.deadline {
					// Everything is out: no deadline while nothing is
					// written (see idle). Not under mu: on HTTP/2 it is
					// a message to the connection's goroutine.
					q.mu.Unlock()
					q.ew.idle()
					continue
				}
				q.writing = false
				q.mu.Unlock()
				return
			}
			q.mu.Unlock()
			// Nothing more is ready: send what was written.
			if err := q.ew.flush(); err != nil {
				q.fail(err)
				return
			}
			continue
		}
		batch := q.queue
		q.queue, q.spare = q.spare[:0], nil
		q.room.Signal()
		q.mu.Unlock()
		var err error
		for _, data := range batch {
			if q.framed {
				err = q.ew.write(data)
			} else {
				err = q.ew.event(data)
			}
			if err != nil {
				break
			}
		}
		clear(batch) // hold no event's data
		if err != nil {
			q.fail(err)
			return
		}
		q.mu.Lock()
		q.spare = batch[:0]
		q.mu.Unlock()
	}
}

// fail ends the writer after a failed write: the relay stops queueing,
// and the upstream call it is reading is canceled.
func (q *eventQueue) fail(err error) {
	q.mu.Lock()
	q.err, q.queue, q.writing = err, nil, false
	q.room.Broadcast()
	q.mu.Unlock()
	q.cancel()
}
