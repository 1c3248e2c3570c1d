package anthropic

import (
	"context"
	"io"
	"testing"
)

// loopReader yields head once, then body over and over.
type loopReader struct {
	head, body []byte
	off        int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.head) > 0 {
			c := copy(p[n:], r.head)
			r.head, n = r.head[c:], n+c
			continue
		}
		c := copy(p[n:], r.body[r.off:])
		n += c
		r.off = (r.off + c) % len(r.body)
	}
	return n, nil
}

// What translating one text event of a Messages stream into an OpenAI chunk
// costs (BENCHMARKS.md, "Vendor translation").
func BenchmarkStreamRecv(b *testing.B) {
	head := []byte("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	event := []byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" token\"}}\n\n")
	c, _ := New(Options{Name: "anth", APIKey: "sk-ant-bench"})
	s := newStream(context.Background(), c, "claude-x", io.NopCloser(&loopReader{head: head, body: event}))
	if _, err := s.Recv(); err != nil { // the role chunk
		b.Fatal(err)
	}
	b.SetBytes(int64(len(event)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Recv(); err != nil {
			b.Fatal(err)
		}
	}
}
