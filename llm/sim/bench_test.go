package sim

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

// The benchmarks run the simulator with no latency, the way load
// benchmarks use it as an upstream: what they measure is its own cost.

func benchSim() *Sim {
	return New("bench", 1, map[string]config.SimModel{
		chatModel:  {Kind: "chat", OutputTokens: config.Range{Min: 16, Max: 64}, ContextWindow: 16384},
		embedModel: {Kind: "embedding", Dimensions: 256, ContextWindow: 8192},
	})
}

// discardWriter is a ResponseWriter that keeps nothing, so that the
// benchmarks measure the handler rather than a recorder.
type discardWriter struct {
	h http.Header
	n int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(int)     {}
func (w *discardWriter) Flush()              {}
func (w *discardWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}

func benchHandler(b *testing.B, path, body string) {
	h := benchSim().Handler()
	req := httptest.NewRequest("POST", path, nil)
	payload := []byte(body)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		req.Body = io.NopCloser(bytes.NewReader(payload))
		req.ContentLength = int64(len(payload))
		clear(w.h)
		h.ServeHTTP(w, req)
	}
	b.ReportMetric(float64(w.n)/float64(b.N), "resp-bytes/op")
}

const benchPrompt = `[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Explain in a few sentences how a circuit breaker protects a service from a failing dependency."}]`

func BenchmarkHandlerChat(b *testing.B) {
	benchHandler(b, "/v1/chat/completions", `{"model":"chat","messages":`+benchPrompt+`}`)
}

func BenchmarkHandlerStream(b *testing.B) {
	benchHandler(b, "/v1/chat/completions", `{"model":"chat","stream":true,"stream_options":{"include_usage":true},"messages":`+benchPrompt+`}`)
}

func BenchmarkHandlerEmbeddings(b *testing.B) {
	benchHandler(b, "/v1/embeddings", `{"model":"embed","input":"Explain in a few sentences how a circuit breaker protects a service from a failing dependency."}`)
}

func benchChatReq() *llm.ChatRequest {
	return &llm.ChatRequest{Model: chatModel, Messages: []llm.Message{
		{Role: "system", Content: "You are a helpful assistant."},
		{Role: "user", Content: "Explain in a few sentences how a circuit breaker protects a service from a failing dependency."},
	}}
}

func BenchmarkChat(b *testing.B) {
	s, req, ctx := benchSim(), benchChatReq(), context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Chat(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStream(b *testing.B) {
	s, req, ctx := benchSim(), benchChatReq(), context.Background()
	b.ReportAllocs()
	for b.Loop() {
		st, err := s.Stream(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := st.Recv(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
		st.Close()
	}
}

func BenchmarkEmbed(b *testing.B) {
	s, ctx := benchSim(), context.Background()
	req := &llm.EmbedRequest{Model: embedModel, Input: []string{"Explain in a few sentences how a circuit breaker protects a service from a failing dependency."}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Embed(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandlerChatParallel runs the handler on every core at once: the
// per-model generator lock is the only shared state on this path.
func BenchmarkHandlerChatParallel(b *testing.B) {
	h := benchSim().Handler()
	payload := []byte(`{"model":"chat","messages":` + benchPrompt + `}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("POST", "/v1/chat/completions", nil)
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			req.Body = io.NopCloser(bytes.NewReader(payload))
			req.ContentLength = int64(len(payload))
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	})
}
