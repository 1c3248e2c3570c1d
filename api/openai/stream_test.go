package openai

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/shed"
	"github.com/bulwark-ai/bulwark/tenant"
)

// provider is an upstream whose streams the test builds: the one fake
// model of these tests, so that what the relay is given and when is under
// the test's control.
type provider struct {
	stream func(ctx context.Context) llm.Stream
}

func (p *provider) Chat(context.Context, *llm.ChatRequest) (*llm.ChatResponse, error) {
	return nil, &llm.Error{Kind: llm.KindBadRequest, Message: "streams only"}
}

func (p *provider) Embed(context.Context, *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	return nil, &llm.Error{Kind: llm.KindBadRequest, Message: "streams only"}
}

func (p *provider) Stream(ctx context.Context, _ *llm.ChatRequest) (llm.Stream, error) {
	return p.stream(ctx), nil
}

// readyStream is a stream whose n chunks are all ready at once, then io.EOF:
// an upstream that sent a burst.
type readyStream struct {
	data []byte
	n    int
}

func (s *readyStream) Recv() (*llm.Chunk, error) {
	if s.n == 0 {
		return nil, io.EOF
	}
	s.n--
	return &llm.Chunk{Data: s.data, HasContent: true}, nil
}

func (s *readyStream) Close() error { return nil }

// newHandler returns a Handler over a gateway whose alias "chat" streams
// from p, with admission control ctl (nil for none).
func newHandler(t testing.TB, p llm.Provider, ctl *shed.Controller) *Handler {
	t.Helper()
	tbl, err := route.New([]config.Model{{Name: "chat", Targets: []config.Target{{Provider: "up", Model: "m"}}}},
		map[string]llm.Provider{"up": p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	gw := gateway.New(tbl, gateway.Options{Capacity: ctl})
	return New(gw, 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// serveChat serves h's chat completions on a loopback listener, for a
// principal with no limits.
func serveChat(t testing.TB, h *Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.chat(w, r, tenant.Principal{})
	}))
	t.Cleanup(srv.Close)
	return srv
}

const streamBody = `{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`

// chunkEvent is a content chunk of typical size.
var chunkEvent = []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"content":"word "},"logprobs":null,"finish_reason":null}]}`)

// BenchmarkStreamRelayHTTP relays 1,024 chunks that the upstream has ready
// at once to a client over loopback HTTP: the per-event cost of the relay
// including its writes to the client's connection (ns/op ÷ 1,024 is the
// cost per event). The client reads everything.
func BenchmarkStreamRelayHTTP(b *testing.B) {
	const events = 1024
	h := newHandler(b, &provider{stream: func(context.Context) llm.Stream {
		return &readyStream{data: chunkEvent, n: events}
	}}, nil)
	srv := serveChat(b, h)
	client := srv.Client()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Post(srv.URL, "application/json", strings.NewReader(streamBody))
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !bytes.HasSuffix(body, []byte("data: [DONE]\n\n")) {
			b.Fatalf("status %d, err %v, %d bytes", resp.StatusCode, err, len(body))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/events, "ns/event")
}

// pacedStream is a stream whose chunks the test hands over one at a time;
// closing next ends it properly.
type pacedStream struct {
	ctx  context.Context
	next chan *llm.Chunk
}

func (s *pacedStream) Recv() (*llm.Chunk, error) {
	select {
	case c, ok := <-s.next:
		if !ok {
			return nil, io.EOF
		}
		return c, nil
	case <-s.ctx.Done():
		return nil, &llm.Error{Kind: llm.KindCanceled, Err: s.ctx.Err()}
	}
}

func (s *pacedStream) Close() error { return nil }

// flushRecorder is a ResponseWriter that keeps what was flushed apart from
// what was only written. When gate is set, writes wait for it to close.
type flushRecorder struct {
	mu      sync.Mutex
	hdr     http.Header
	written bytes.Buffer
	flushed string // everything written up to the last flush
	flushes int
	gate    chan struct{}
}

func (f *flushRecorder) Header() http.Header {
	if f.hdr == nil {
		f.hdr = http.Header{}
	}
	return f.hdr
}

func (f *flushRecorder) WriteHeader(int) {}

func (f *flushRecorder) Write(b []byte) (int, error) {
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.written.Write(b)
}

func (f *flushRecorder) Flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushed = f.written.String()
	f.flushes++
}

func (f *flushRecorder) state() (flushed string, flushes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.flushed, f.flushes
}

func TestRelayFlushesEachEventBeforeWaitingForTheNext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		s := &pacedStream{ctx: ctx, next: make(chan *llm.Chunk)}
		rec := &flushRecorder{}
		done := make(chan struct{})
		var failed error
		go func() {
			defer close(done)
			relay(newEventWriter(rec, time.Second), s, cancel, false, nil, func(err error) { failed = err })
		}()
		want := ""
		for k := 1; k <= 5; k++ {
			data := fmt.Sprintf(`{"choices":[{"delta":{"content":"%d"}}]}`, k)
			s.next <- &llm.Chunk{Data: []byte(data), HasContent: true}
			// Chunk k+1 does not exist yet: everything must wait for it
			// with chunk k already flushed to the client.
			synctest.Wait()
			want += "data: " + data + "\n\n"
			if got, _ := rec.state(); got != want {
				t.Fatalf("while the upstream prepares chunk %d, the client has\n%q\nwant\n%q", k+1, got, want)
			}
		}
		close(s.next)
		<-done
		if failed != nil {
			t.Errorf("relay failed: %v", failed)
		}
		if got, _ := rec.state(); got != want+"data: [DONE]\n\n" {
			t.Errorf("the stream ended with %q", got)
		}
	})
}

func TestRelayWritesEventsAlreadyReceivedInOneFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, cancel := context.WithCancel(t.Context())
		defer cancel()
		rec := &flushRecorder{gate: make(chan struct{})}
		done := make(chan struct{})
		var failed error
		go func() {
			defer close(done)
			relay(newEventWriter(rec, time.Second), &readyStream{data: chunkEvent, n: 5}, cancel, false, nil,
				func(err error) { failed = err })
		}()
		// The first write waits while the reader takes in the other four
		// chunks and the end.
		synctest.Wait()
		close(rec.gate)
		<-done
		if failed != nil {
			t.Errorf("relay failed: %v", failed)
		}
		got, flushes := rec.state()
		want := strings.Repeat("data: "+string(chunkEvent)+"\n\n", 5) + "data: [DONE]\n\n"
		if got != want {
			t.Errorf("the client got %q", got)
		}
		if flushes != 1 {
			t.Errorf("%d flushes for five events and [DONE] that were all ready, want 1", flushes)
		}
	})
}

// endlessStream sends large chunks for as long as it is read.
type endlessStream struct {
	ctx    context.Context
	data   []byte
	closed chan struct{}
	once   sync.Once
}

func (s *endlessStream) Recv() (*llm.Chunk, error) {
	if err := s.ctx.Err(); err != nil {
		return nil, &llm.Error{Kind: llm.KindCanceled, Err: err}
	}
	return &llm.Chunk{Data: s.data, HasContent: true}, nil
}

func (s *endlessStream) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

// A client that stops reading, over HTTP/1.1 (it stops reading its
// connection) and over cleartext HTTP/2 (it stops reading one stream while
// its connection stays healthy), ends its stream after the write timeout:
// the upstream stream is closed and the admission slot and target permit
// are released.
func TestStreamToAClientThatStopsReadingEnds(t *testing.T) {
	for _, proto := range []string{"HTTP/1.1", "h2c"} {
		t.Run(proto, func(t *testing.T) {
			data := []byte(`{"choices":[{"index":0,"delta":{"content":"` + strings.Repeat("x", 64<<10) + `"}}]}`)
			up := &endlessStream{data: data, closed: make(chan struct{})}
			ctl := shed.New(shed.Options{})
			h := newHandler(t, &provider{stream: func(ctx context.Context) llm.Stream {
				up.ctx = ctx
				return up
			}}, ctl)
			h.SetStreamWriteTimeout(100 * time.Millisecond)
			handled := make(chan struct{})
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(handled)
				h.chat(w, r, tenant.Principal{})
			}))
			srv.Config.Protocols = new(http.Protocols)
			srv.Config.Protocols.SetHTTP1(true)
			srv.Config.Protocols.SetUnencryptedHTTP2(true)
			srv.Start()
			defer srv.Close()

			// The client sends its request, then neither reads nor leaves.
			if proto == "h2c" {
				tr := &http.Transport{Protocols: new(http.Protocols)}
				tr.Protocols.SetUnencryptedHTTP2(true)
				defer tr.CloseIdleConnections()
				resp, err := (&http.Client{Transport: tr}).Post(srv.URL, "application/json", strings.NewReader(streamBody))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.ProtoMajor != 2 {
					t.Fatalf("the client speaks %s", resp.Proto)
				}
			} else {
				conn, err := net.Dial("tcp", srv.Listener.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: bulwark\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
					len(streamBody), streamBody)
			}

			// A bound on a hang, not a measurement: without the write
			// deadline the handler never returns.
			select {
			case <-handled:
			case <-time.After(time.Minute):
				t.Fatal("the stream to a client that stopped reading is still being written")
			}
			select {
			case <-up.closed:
			default:
				t.Error("the upstream stream was not closed")
			}
			snap := ctl.Snapshot()
			if snap.Inflight != 0 {
				t.Errorf("%d admission slots still held", snap.Inflight)
			}
			for _, tg := range snap.Targets {
				if tg.Inflight != 0 {
					t.Errorf("target %s: %d permits still held", tg.Target, tg.Inflight)
				}
			}
		})
	}
}

// pausingStream sends one event, pauses, sends another, then ends.
type pausingStream struct {
	pause time.Duration
	n     int
}

func (s *pausingStream) Recv() (*llm.Chunk, error) {
	s.n++
	switch s.n {
	case 1:
		return &llm.Chunk{Data: []byte(`{"choices":[{"index":0,"delta":{"content":"one"}}]}`), HasContent: true}, nil
	case 2:
		time.Sleep(s.pause)
		return &llm.Chunk{Data: []byte(`{"choices":[{"index":0,"delta":{"content":"two"}}]}`), HasContent: true}, nil
	}
	return nil, io.EOF
}

func (s *pausingStream) Close() error { return nil }

// An upstream that pauses longer than the stream write timeout between
// two events does not end a stream its client is reading: the write
// deadline bounds writes, not the wait for the upstream. Over HTTP/2 a
// deadline left set resets the stream when it fires.
func TestStreamOutlivesAPauseLongerThanTheWriteTimeout(t *testing.T) {
	for _, proto := range []string{"HTTP/1.1", "h2c"} {
		t.Run(proto, func(t *testing.T) {
			h := newHandler(t, &provider{stream: func(context.Context) llm.Stream {
				return &pausingStream{pause: 300 * time.Millisecond}
			}}, shed.New(shed.Options{}))
			h.SetStreamWriteTimeout(50 * time.Millisecond)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h.chat(w, r, tenant.Principal{})
			}))
			srv.Config.Protocols = new(http.Protocols)
			srv.Config.Protocols.SetHTTP1(true)
			srv.Config.Protocols.SetUnencryptedHTTP2(true)
			srv.Start()
			defer srv.Close()
			tr := &http.Transport{Protocols: new(http.Protocols)}
			if proto == "h2c" {
				tr.Protocols.SetUnencryptedHTTP2(true)
			} else {
				tr.Protocols.SetHTTP1(true)
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Post(srv.URL, "application/json", strings.NewReader(streamBody))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading the stream: %v (got %q)", err, body)
			}
			for _, want := range []string{`"one"`, `"two"`, "data: [DONE]"} {
				if !strings.Contains(string(body), want) {
					t.Errorf("stream lacks %s:\n%s", want, body)
				}
			}
		})
	}
}
