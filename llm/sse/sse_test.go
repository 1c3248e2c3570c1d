package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// events reads every event of r as "type:data", and how it ended.
func events(r io.Reader, max int) (out []string, end error) {
	p := NewReader(r, max)
	for {
		ev, data, err := p.Next()
		if err != nil {
			return out, err
		}
		out = append(out, string(ev)+":"+string(data))
	}
}

func TestReaderFollowsTheSpecification(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"event: message_start\ndata: {\"a\":1}\n\n", []string{"message_start:{\"a\":1}"}},
		{"data:x\r\n\r\ndata: y\r\rdata: z\n", []string{":x", ":y", ":z"}},
		{": comment\nid: 7\nretry: 10\ndata: a\ndata: b\n\n", []string{":a\nb"}},
		{"event: ping\n\nevent: error\ndata: {}\n\n", []string{"error:{}"}},
		{"", nil},
	} {
		for _, r := range []io.Reader{strings.NewReader(c.in), iotest.OneByteReader(strings.NewReader(c.in))} {
			got, end := events(r, 1<<10)
			if fmt.Sprint(got) != fmt.Sprint(c.want) || end != io.EOF {
				t.Errorf("%q: %q %v, want %q EOF", c.in, got, end, c.want)
			}
		}
	}
	if _, end := events(strings.NewReader("data: "+strings.Repeat("x", 100)+"\n\n"), 64); !errors.Is(end, ErrEventTooLong) {
		t.Errorf("an event over the cap ended with %v", end)
	}
}

// An upstream's body is untrusted: whatever it holds, the events do not
// depend on how it is read, and no event is larger than the cap.
func FuzzReader(f *testing.F) {
	for _, s := range []string{"event: a\ndata: b\n\n", "data:x\r\rdata:y\r\n", ": c\n\n", "data: " + strings.Repeat("z", 80)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		whole, e1 := events(bytes.NewReader(in), 64)
		bytewise, e2 := events(iotest.OneByteReader(bytes.NewReader(in)), 64)
		if fmt.Sprint(whole, e1) != fmt.Sprint(bytewise, e2) {
			t.Fatalf("the events depend on how the body is read:\n%q %v\n%q %v", whole, e1, bytewise, e2)
		}
		for _, ev := range whole {
			if len(ev) > 64+len(in) {
				t.Fatalf("event of %d bytes", len(ev))
			}
		}
	})
}
