// Package sse reads a text/event-stream body, as every vendor's streaming
// API sends one (OpenAI's, Anthropic's, Gemini's with alt=sse). Written here
// rather than taken from a library: the parsers on offer are clients that
// own the HTTP request and reconnect, where providers need only a reader
// over a body they opened, with a bound on event size and no allocation per
// event.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// ErrEventTooLong is returned for an SSE line or event larger than the cap.
var ErrEventTooLong = errors.New("event too long")

// Reader reads a text/event-stream body as the WHATWG specification
// describes it: lines end in CRLF, LF or CR; a line starting with ':' is a
// comment; "field: value" lines (the space after the colon is optional) set
// data, event, id or retry; a blank line dispatches the event, whose data
// lines are joined with LF. An event still pending at a clean end of the body
// is dispatched too (servers that close after the last line are common).
//
// Lines and events are limited to max bytes. A Reader is not safe for
// concurrent use.
type Reader struct {
	sc  *bufio.Scanner
	max int
	// skipLF is set after a line ended in CR: a LF that follows belongs to
	// the same line ending.
	skipLF  bool
	data    []byte
	event   []byte
	hasData bool
}

func NewReader(r io.Reader, max int) *Reader {
	p := &Reader{max: max}
	p.sc = bufio.NewScanner(r)
	// The buffer grows as an event needs it, up to max; starting small
	// keeps an open stream cheap (chunk events are well under 4 KiB).
	p.sc.Buffer(make([]byte, 0, 4<<10), max)
	p.sc.Split(p.splitLine)
	return p
}

// splitLine is a bufio.SplitFunc that yields lines ended by CRLF, LF or CR,
// without their ending. It returns a line as soon as its ending arrived,
// never waiting for the next byte to tell CR from CRLF.
func (p *Reader) splitLine(data []byte, atEOF bool) (int, []byte, error) {
	skipped := 0
	if p.skipLF && len(data) > 0 {
		p.skipLF = false
		if data[0] == '\n' {
			data = data[1:]
			skipped = 1
		}
	}
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		n := i + 1
		if data[i] == '\r' {
			if i+1 < len(data) {
				if data[i+1] == '\n' {
					n++
				}
			} else {
				p.skipLF = true
			}
		}
		return skipped + n, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return skipped + len(data), data, nil
	}
	return skipped, nil, nil
}

// Next returns the next event's type and data, valid until the next call.
// It returns io.EOF at a clean end of the body, ErrEventTooLong for an
// oversized line or event, and the body's read error otherwise.
func (p *Reader) Next() (event, data []byte, err error) {
	p.data, p.event, p.hasData = p.data[:0], p.event[:0], false
	for p.sc.Scan() {
		line := p.sc.Bytes()
		if len(line) == 0 {
			if p.hasData {
				return p.event, p.data, nil
			}
			p.event = p.event[:0]
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if p.hasData {
				p.data = append(p.data, '\n')
			}
			if len(p.data)+len(value) > p.max {
				return nil, nil, ErrEventTooLong
			}
			p.data = append(p.data, value...)
			p.hasData = true
		case "event":
			p.event = append(p.event[:0], value...)
		}
		// id and retry only matter to a reconnecting browser; other fields
		// are ignored, as the specification says.
	}
	if err := p.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, nil, ErrEventTooLong
		}
		return nil, nil, err
	}
	if p.hasData {
		p.hasData = false
		return p.event, p.data, nil
	}
	return nil, nil, io.EOF
}
