package sim

import (
	"context"
	"io"
	"strconv"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
)

// event is what a streamer's step delivers.
type event uint8

const (
	evChunk      event = iota // a chunk (role, content or finish)
	evUsage                   // the usage chunk
	evMalformed               // an event that is not JSON
	evPause                   // nothing; the wait was a stall
	evCut                     // the stream is cut here
	evErrorEvent              // an error event, then the end
	evEnd                     // the stream ended properly
)

// step is one step of a stream: wait, then deliver ev.
type step struct {
	ev     event
	wait   time.Duration
	finish string // of a finish chunk
}

// streamer produces a streamed answer one event at a time, in OpenAI's
// chat.completion.chunk format: a role chunk per choice, then rounds of one
// content chunk per unfinished choice, each choice's finish chunk right
// after its last token, and the usage chunk. Both transports drive it: the
// HTTP handler writes its events as SSE, the in-process stream returns them
// from Recv. It is used by one goroutine.
type streamer struct {
	c     *call
	head  []byte // every chunk's JSON up to "choices":[
	tail  string // after the choices: `}` or `,"usage":null}`
	usage bool

	phase    uint8
	i, r     int  // choice and round of the next token
	lastSent bool // choice i's last token was sent: its finish chunk is next
	waited   bool // round r's inter-token wait was taken
	sent     int  // content tokens sent
	faulted  bool
	// script, when set, is the scripted reply streamed instead of the
	// first choice's words (OpenAI's form only), and scripted its deltas
	// still to send.
	script   *script
	scripted []string
}

const (
	phaseRole = iota
	phaseTokens
	phaseUsage
	phaseEnd
	phaseScript
)

func newStreamer(c *call, usage bool) *streamer {
	st := &streamer{c: c, usage: usage, tail: "}", r: c.skip}
	if usage {
		st.tail = `,"usage":null}`
	}
	st.head = c.appendHead(make([]byte, 0, 192), "chat.completion.chunk")
	return st
}

// next appends the next event's data to b and says what it is and how long
// to wait before delivering it.
func (st *streamer) next(b []byte) ([]byte, step) {
	c := st.c
	switch st.phase {
	case phaseRole:
		var wait time.Duration
		if st.i == 0 {
			wait = c.firstDelay()
		}
		b = st.appendChoice(b, st.i, `{"role":"assistant","content":"","refusal":null}`, "")
		if st.i++; st.i == len(c.choices) {
			st.phase, st.i = phaseTokens, 0
			if st.script != nil {
				st.phase, st.scripted = phaseScript, st.script.deltas()
			}
		}
		return b, step{ev: evChunk, wait: wait}
	case phaseScript:
		if len(st.scripted) > 0 {
			b = st.appendChoice(b, 0, st.scripted[0], "")
			st.scripted = st.scripted[1:]
			return b, step{ev: evChunk, wait: c.m.itl.draw(c.rng)}
		}
		st.phase = phaseUsage
		b = st.appendChoice(b, 0, "{}", st.script.finish())
		return b, step{ev: evChunk, finish: st.script.finish()}
	case phaseTokens:
		for st.r < c.maxLen {
			if st.i == len(c.choices) {
				st.i, st.r, st.waited = 0, st.r+1, false
				continue
			}
			ch := &c.choices[st.i]
			if st.r >= ch.length {
				st.i++
				continue
			}
			if !st.faulted && st.sent == c.faultAt {
				return st.fault(b)
			}
			if st.lastSent {
				st.lastSent = false
				b = st.appendChoice(b, st.i, "{}", ch.finish)
				st.i++
				return b, step{ev: evChunk, finish: ch.finish}
			}
			var wait time.Duration
			if st.r > c.skip && !st.waited {
				st.waited, wait = true, c.m.itl.draw(c.rng)
			}
			b = st.appendToken(b, st.i, ch)
			st.sent++
			if st.r == ch.length-1 {
				st.lastSent = true
			} else {
				st.i++
			}
			return b, step{ev: evChunk, wait: wait}
		}
		st.phase = phaseUsage
		fallthrough
	case phaseUsage:
		st.phase = phaseEnd
		if st.usage {
			b = append(b, st.head...)
			b = append(b, `],"usage":`...)
			b = appendUsage(b, c.usage())
			return append(b, '}'), step{ev: evUsage}
		}
		fallthrough
	default:
		return b, step{ev: evEnd}
	}
}

// fault is the step of the request's mid-stream fault.
func (st *streamer) fault(b []byte) ([]byte, step) {
	st.faulted = true
	f := st.c.fault
	switch f.kind {
	case faultCut:
		return b, step{ev: evCut}
	case faultStall:
		d := f.cfg.Delay.D()
		if d == 0 {
			d = forever
		}
		return b, step{ev: evPause, wait: d}
	case faultErrorEvent:
		return append(b, errorEventJSON...), step{ev: evErrorEvent}
	}
	return append(b, malformedJSON...), step{ev: evMalformed}
}

// appendChoice appends a chunk of one choice with the given delta, and
// finish reason ("" for null).
func (st *streamer) appendChoice(b []byte, i int, delta, finish string) []byte {
	b = append(b, st.head...)
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `,"delta":`...)
	b = append(b, delta...)
	b = append(b, `,"logprobs":null,"finish_reason":`...)
	if finish == "" {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = append(b, finish...)
		b = append(b, '"')
	}
	b = append(b, "}]"...)
	return append(b, st.tail...)
}

// appendToken appends the content chunk of choice i's next token.
func (st *streamer) appendToken(b []byte, i int, ch *choice) []byte {
	b = append(b, st.head...)
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `,"delta":{"content":"`...)
	b = ch.words.next(b, st.r == ch.length-1 && ch.finish == "stop")
	b = append(b, `"},"logprobs":null,"finish_reason":null}]`...)
	return append(b, st.tail...)
}

// stream is an in-process streamed answer: an llm.Stream over a streamer.
type stream struct {
	ctx    context.Context
	cancel context.CancelFunc
	c      *call
	st     *streamer
	timer  *time.Timer
	err    error // sticky: io.EOF or the *llm.Error that ended the stream
}

var _ llm.Stream = (*stream)(nil)

// Recv returns the next chunk, after its delay. It returns io.EOF after the
// usage chunk, and an *llm.Error when a fault breaks the stream or ctx ends.
func (s *stream) Recv() (*llm.Chunk, error) {
	if s.err != nil {
		return nil, s.err
	}
	c := s.c
	for {
		if err := s.ctx.Err(); err != nil {
			return nil, s.end(c.s.ctxError(c.m, err))
		}
		b, st := s.st.next(make([]byte, 0, len(s.st.head)+160))
		if err := sleep(s.ctx, &s.timer, st.wait); err != nil {
			return nil, s.end(c.s.ctxError(c.m, err))
		}
		switch st.ev {
		case evChunk:
			return &llm.Chunk{Data: b, Model: c.m.name, HasContent: true, FinishReason: st.finish}, nil
		case evUsage:
			u := c.usage()
			return &llm.Chunk{Data: b, Model: c.m.name, Usage: &u}, nil
		case evMalformed:
			return nil, s.end(c.s.streamError(c.m, llm.BreakMalformed, "malformed stream event: invalid JSON"))
		case evCut:
			return nil, s.end(c.s.streamError(c.m, llm.BreakCut, "stream cut: connection closed before the end of the stream"))
		case evErrorEvent:
			return nil, s.end(c.s.errorEventError(c.m))
		case evEnd:
			return nil, s.end(io.EOF)
		}
	}
}

// end records the error that ends the stream and gives the slot back.
func (s *stream) end(err error) error {
	s.err = err
	s.c.release()
	s.cancel()
	return err
}

// Close ends the stream and gives its slot back. It may be called from
// another goroutine to end a Recv that is waiting; a Recv after Close
// returns KindCanceled (or io.EOF if the stream had ended).
func (s *stream) Close() error {
	s.cancel()
	s.c.release()
	return nil
}
