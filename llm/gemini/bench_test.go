package gemini

import (
	"context"
	"io"
	"testing"
)

// repeatReader yields b over and over.
type repeatReader struct {
	b   []byte
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.b[r.off:])
		n += c
		r.off = (r.off + c) % len(r.b)
	}
	return n, nil
}

// What translating one streamGenerateContent event (one text part) into
// OpenAI chunks costs (BENCHMARKS.md, "Vendor translation").
func BenchmarkStreamRecv(b *testing.B) {
	event := []byte(`data: {"candidates":[{"content":{"parts":[{"text":" token"}],"role":"model"},"index":0}],"modelVersion":"gemini-2.5-flash","responseId":"r1"}` + "\n\n")
	c, err := New(Options{Name: "gm", BaseURL: "http://upstream.invalid"})
	if err != nil {
		b.Fatal(err)
	}
	s := newStream(context.Background(), c, "gemini-2.5-flash", io.NopCloser(&repeatReader{b: event}))
	b.SetBytes(int64(len(event)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Recv(); err != nil {
			b.Fatal(err)
		}
	}
}
