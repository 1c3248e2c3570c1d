package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
)

// serveSSE answers with an event stream whose body is events.
func serveSSE(events string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, events)
	}
}

// recvAll reads s to its end.
func recvAll(t *testing.T, s llm.Stream) ([]*llm.Chunk, error) {
	t.Helper()
	var chunks []*llm.Chunk
	for range 10000 {
		ch, err := s.Recv()
		if err != nil {
			return chunks, err
		}
		chunks = append(chunks, ch)
	}
	t.Fatal("the stream does not end")
	return nil, nil
}

func TestStreamGolden(t *testing.T) {
	sse := readTestdata(t, "stream_openai.sse")
	u := newUpstream(t, serveSSE(string(sse)))
	req := &llm.ChatRequest{Model: "gpt-4o-mini-2024-07-18", Body: readTestdata(t, "chat_request.json")}
	s, err := u.client(t).Stream(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	chunks, err := recvAll(t, s)
	if err != io.EOF {
		t.Fatalf("end %v, want io.EOF", err)
	}

	// Data is each event's JSON verbatim.
	var want [][]byte
	for _, line := range bytes.Split(sse, []byte("\n")) {
		if d, ok := bytes.CutPrefix(line, []byte("data: ")); ok && string(d) != "[DONE]" {
			want = append(want, d)
		}
	}
	if len(chunks) != len(want) {
		t.Fatalf("%d chunks, want %d", len(chunks), len(want))
	}
	for i := range chunks {
		if !bytes.Equal(chunks[i].Data, want[i]) {
			t.Errorf("chunk %d Data\n%s\nwant\n%s", i, chunks[i].Data, want[i])
		}
		if chunks[i].Model != "gpt-4o-mini" {
			t.Errorf("chunk %d Model %q", i, chunks[i].Model)
		}
	}
	hasContent := []bool{true, true, true, true, true, false}
	for i, ch := range chunks {
		if ch.HasContent != hasContent[i] {
			t.Errorf("chunk %d HasContent %v, want %v", i, ch.HasContent, hasContent[i])
		}
	}
	if chunks[4].FinishReason != "stop" {
		t.Errorf("finish reason %q", chunks[4].FinishReason)
	}
	if u := chunks[5].Usage; u == nil || *u != (llm.Usage{PromptTokens: 9, CompletionTokens: 3, TotalTokens: 12, CachedTokens: 4}) {
		t.Errorf("usage %+v", u)
	}
	for i := range 5 {
		if chunks[i].Usage != nil {
			t.Errorf("chunk %d has usage", i)
		}
	}

	r := u.last(t)
	if r.Header.Get("Accept") != "text/event-stream" {
		t.Errorf("Accept %q", r.Header.Get("Accept"))
	}
	golden(t, "chat_request.upstream_stream.json", r.Body)
}

// streamOf returns a stream reading body, outside HTTP.
func streamOf(ctx context.Context, body io.Reader) *stream {
	return newStream(ctx, &Client{name: "up"}, "m", io.NopCloser(body))
}

// sseResult is what a stream made of: each chunk's Data, then the end.
type sseResult struct {
	data []string
	end  string // "EOF" or the error kind
}

func readStream(s llm.Stream) sseResult {
	var r sseResult
	for {
		ch, err := s.Recv()
		if err == io.EOF {
			r.end = "EOF"
			return r
		}
		if err != nil {
			r.end = llm.KindOf(err).String()
			return r
		}
		r.data = append(r.data, string(ch.Data))
	}
}

const (
	chunkA   = `{"choices":[{"index":0,"delta":{"content":"a"}}]}`
	chunkFin = `{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`
)

func TestSSEParser(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		data []string
		end  string
	}{
		{"space after colon", "data: " + chunkA + "\n\ndata: [DONE]\n\n", []string{chunkA}, "EOF"},
		{"no space after colon", "data:" + chunkA + "\n\ndata:[DONE]\n\n", []string{chunkA}, "EOF"},
		{"CRLF", "data: " + chunkA + "\r\n\r\ndata: [DONE]\r\n\r\n", []string{chunkA}, "EOF"},
		{"CR", "data: " + chunkA + "\r\rdata: [DONE]\r\r", []string{chunkA}, "EOF"},
		{"multi-line data", "data: {\"choices\":\ndata: []}\n\ndata: [DONE]\n\n", []string{"{\"choices\":\n[]}"}, "EOF"},
		{"comments and other fields", ": keep-alive\n\nid: 1\nretry: 3000\nevent: message\ndata: " + chunkA + "\nunknown: x\n\n:done soon\ndata: [DONE]\n\n",
			[]string{chunkA}, "EOF"},
		{"keep-alive events", "data:\n\ndata: \n\n" + "data: " + chunkA + "\n\ndata: [DONE]\n\n", []string{chunkA}, "EOF"},
		{"done without blank line", "data: " + chunkA + "\n\ndata: [DONE]", []string{chunkA}, "EOF"},
		{"events after done are not read", "data: [DONE]\n\ndata: " + chunkA + "\n\n", nil, "EOF"},
		{"no done after a finish reason", "data: " + chunkA + "\n\ndata: " + chunkFin + "\n\n", []string{chunkA, chunkFin}, "EOF"},
		{"no done after a finish reason, no blank line", "data: " + chunkFin + "\n", []string{chunkFin}, "EOF"},
		{"no done and no finish reason", "data: " + chunkA + "\n\n", []string{chunkA}, "stream_broken"},
		{"empty body", "", nil, "stream_broken"},
		{"only comments", ": hello\n\n", nil, "stream_broken"},
		{"not JSON", "data: " + chunkA + "\n\ndata: {\"choices\":[{\n\n", []string{chunkA}, "stream_broken"},
		{"not an object", "data: 42\n\n", nil, "stream_broken"},
		{"null", "data: null\n\n", nil, "stream_broken"},
		{"cut inside an event at a clean end", "data: {\"choices\":[{\"delta\":", nil, "stream_broken"},
		{"error event", "data: " + chunkA + "\n\nevent: error\ndata: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n", []string{chunkA}, "server_error"},
		{"error object", "data: {\"error\":{\"message\":\"slow\",\"code\":\"rate_limit_exceeded\"}}\n\n", nil, "rate_limited"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", strings.NewReader(c.in)},
				{"byte by byte", iotest.OneByteReader(strings.NewReader(c.in))},
				{"half", iotest.HalfReader(strings.NewReader(c.in))},
			} {
				got := readStream(streamOf(t.Context(), r.r))
				if fmt.Sprint(got.data) != fmt.Sprint(c.data) || got.end != c.end {
					t.Errorf("%s: got %q %s, want %q %s", r.name, got.data, got.end, c.data, c.end)
				}
			}
		})
	}
}

func TestSSELongLines(t *testing.T) {
	big := func(n int) string {
		return `{"choices":[{"delta":{"content":"` + strings.Repeat("x", n) + `"},"finish_reason":"stop"}]}`
	}
	ok := big(3 << 20)
	got := readStream(streamOf(t.Context(), strings.NewReader("data: "+ok+"\n\ndata: [DONE]\n\n")))
	if len(got.data) != 1 || got.data[0] != ok || got.end != "EOF" {
		t.Errorf("3 MiB event: %d chunks, end %s", len(got.data), got.end)
	}
	got = readStream(streamOf(t.Context(), strings.NewReader("data: "+big(5<<20)+"\n\ndata: [DONE]\n\n")))
	if len(got.data) != 0 || got.end != "stream_broken" {
		t.Errorf("5 MiB line: %d chunks, end %s", len(got.data), got.end)
	}
	// Many short data lines adding up to more than the cap.
	line := "data: " + strings.Repeat("y", 1<<20) + "\n"
	got = readStream(streamOf(t.Context(), strings.NewReader(strings.Repeat(line, 5)+"\n")))
	if got.end != "stream_broken" {
		t.Errorf("5 MiB event in 1 MiB lines: end %s", got.end)
	}
}

func TestChunkHasContent(t *testing.T) {
	for _, c := range []struct {
		data string
		want bool
	}{
		{`{"choices":[{"delta":{"content":"x"}}]}`, true},
		{`{"choices":[{"delta":{"role":"assistant","content":""}}]}`, true},
		{`{"choices":[{"delta":{"content":""}}]}`, false},
		{`{"choices":[{"delta":{"content":null,"refusal":null,"tool_calls":[]}}]}`, false},
		{`{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{"}}]}}]}`, true},
		{`{"choices":[{"delta":{"function_call":{"name":"f"}}}]}`, true},
		{`{"choices":[{"delta":{"refusal":"no"}}]}`, true},
		{`{"choices":[{"delta":{"reasoning_content":"hmm"}}]}`, true},
		{`{"choices":[{"delta":{"reasoning":"hmm"}}]}`, true},
		{`{"choices":[{"delta":{},"finish_reason":"length"}]}`, true},
		{`{"choices":[{"delta":null,"finish_reason":null}]}`, false},
		{`{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`, false},
		{`{"choices":[{"delta":{}},{"index":1,"delta":{"content":"y"}}]}`, true},
	} {
		ch, err := streamOf(t.Context(), nil).decode([]byte(c.data))
		if err != nil {
			t.Fatalf("%s: %v", c.data, err)
		}
		if ch.HasContent != c.want {
			t.Errorf("%s: HasContent %v, want %v", c.data, ch.HasContent, c.want)
		}
	}
}

// cutAfter serves n events of a stream, flushed, then closes the
// connection without ending the body.
func cutAfter(n int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for range n {
			_, _ = io.WriteString(w, "data: "+chunkA+"\n\n")
		}
		_ = rc.Flush()
		conn, _, err := rc.Hijack()
		if err == nil {
			conn.Close()
		}
	}
}

func TestStreamCut(t *testing.T) {
	u := newUpstream(t, cutAfter(3))
	s, err := u.client(t).Stream(t.Context(), chatRequest("m", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	chunks, err := recvAll(t, s)
	if len(chunks) != 3 {
		t.Errorf("%d chunks before the cut, want 3", len(chunks))
	}
	if e := llmError(t, err, "m"); e.Kind != llm.KindStreamBroken {
		t.Errorf("kind %s, want stream_broken (%v)", e.Kind, err)
	}
	if _, again := s.Recv(); again != err {
		t.Errorf("Recv after the end = %v, want the same error", again)
	}
}

// blockAfterOne sends one event, then waits for the client to go.
func blockAfterOne(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	_, _ = io.WriteString(w, "data: "+chunkA+"\n\n")
	_ = http.NewResponseController(w).Flush()
	<-r.Context().Done()
}

func TestStreamContextEnds(t *testing.T) {
	u := newUpstream(t, blockAfterOne)
	for _, c := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		kind llm.Kind
	}{
		{"canceled", func() (context.Context, context.CancelFunc) { return context.WithCancel(t.Context()) }, llm.KindCanceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(t.Context(), 200*time.Millisecond)
		}, llm.KindTimeout},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := c.ctx()
			defer cancel()
			s, err := u.client(t).Stream(ctx, chatRequest("m", `{}`))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Recv(); err != nil {
				t.Fatal(err)
			}
			// Recv blocks on the upstream until the context ends.
			if c.kind == llm.KindCanceled {
				time.AfterFunc(50*time.Millisecond, cancel)
			}
			start := time.Now()
			_, err = s.Recv()
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Recv returned %v late", d)
			}
			if e := llmError(t, err, "m"); e.Kind != c.kind {
				t.Errorf("kind %s, want %s (%v)", e.Kind, c.kind, err)
			}
		})
	}
}

func TestStreamRecvAfterCancelIsPrompt(t *testing.T) {
	// The whole stream is buffered already; a canceled context still wins.
	ctx, cancel := context.WithCancel(t.Context())
	s := streamOf(ctx, strings.NewReader(strings.Repeat("data: "+chunkA+"\n\n", 10)+"data: [DONE]\n\n"))
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := s.Recv(); llm.KindOf(err) != llm.KindCanceled {
		t.Errorf("Recv after cancel: %v, want canceled", err)
	}
}

func TestStreamClose(t *testing.T) {
	u := newUpstream(t, blockAfterOne)
	s, err := u.client(t).Stream(t.Context(), chatRequest("m", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	// Close from another goroutine while Recv waits.
	time.AfterFunc(50*time.Millisecond, func() { _ = s.Close() })
	start := time.Now()
	_, err = s.Recv()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Recv returned %v after Close", d)
	}
	if e := llmError(t, err, "m"); e.Kind != llm.KindCanceled {
		t.Errorf("kind %s, want canceled (%v)", e.Kind, err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Recv(); llm.KindOf(err) != llm.KindCanceled {
		t.Errorf("Recv after Close: %v", err)
	}
}

func TestStreamNon2xxAndJSON(t *testing.T) {
	u := newUpstream(t, serveBytes(200, "application/json; charset=utf-8",
		[]byte(`{"error":{"message":"filtered","code":"content_filter"}}`)))
	_, err := u.client(t).Stream(t.Context(), chatRequest("m", `{}`))
	if e := llmError(t, err, "m"); e.Kind != llm.KindContentFilter {
		t.Errorf("JSON error to a stream: kind %s (%v)", e.Kind, err)
	}
	u = newUpstream(t, serveBytes(200, "application/json", readTestdata(t, "chat_response.json")))
	_, err = u.client(t).Stream(t.Context(), chatRequest("m", `{}`))
	if e := llmError(t, err, "m"); e.Kind != llm.KindServer {
		t.Errorf("completion to a stream: kind %s (%v)", e.Kind, err)
	}
}

func TestStreamReusesConnection(t *testing.T) {
	var conns atomic.Int32
	// The end of the body comes a moment after [DONE], as it may over a
	// network.
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: "+chunkA+"\n\ndata: [DONE]\n\n")
		_ = http.NewResponseController(w).Flush()
		time.Sleep(5 * time.Millisecond)
	}, func(s *http.Server) {
		s.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		}
	})
	c := u.client(t)
	for range 5 {
		s, err := c.Stream(t.Context(), chatRequest("m", `{}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := readStream(s); got.end != "EOF" {
			t.Fatalf("end %s", got.end)
		}
		s.Close()
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 5 streams, want 1", n)
	}
}

// repeatReader yields b forever.
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

func BenchmarkStreamRecv(b *testing.B) {
	event := []byte(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" token"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	s := streamOf(context.Background(), &repeatReader{b: event})
	b.SetBytes(int64(len(event)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Recv(); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzSSE(f *testing.F) {
	f.Add(readTestdata(f, "stream_openai.sse"))
	for _, s := range []string{
		"data: " + chunkA + "\r\n\r\ndata: [DONE]\r\n\r\n",
		"data: " + chunkA + "\r\rdata: " + chunkFin + "\r",
		"data: {\"choices\":\ndata: []}\n\n",
		": c\nevent: error\ndata: {\"error\":\"x\"}\n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":",
		"data:42\n\ndata: [DONE]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		whole := readStream(streamOf(t.Context(), bytes.NewReader(in)))
		bytewise := readStream(streamOf(t.Context(), iotest.OneByteReader(bytes.NewReader(in))))
		if fmt.Sprint(whole) != fmt.Sprint(bytewise) {
			t.Fatalf("the result depends on how the body is read:\n%q\n%q", whole, bytewise)
		}
		for _, d := range whole.data {
			if !json.Valid([]byte(d)) {
				t.Fatalf("chunk Data is not JSON: %q", d)
			}
		}
		s := streamOf(t.Context(), bytes.NewReader(in))
		for {
			_, err := s.Recv()
			if err == nil {
				continue
			}
			var e *llm.Error
			if err != io.EOF && !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is neither io.EOF nor an *llm.Error", err, err)
			}
			if _, again := s.Recv(); again != err {
				t.Fatalf("the end is not sticky: %v then %v", err, again)
			}
			break
		}
	})
}
