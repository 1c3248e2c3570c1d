package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/reqlog"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tenant"
)

// talker answers with text: a chat completion body, or a stream of n
// content chunks ("w0 w1 …") and a usage chunk. Its chunks are built
// once, so relaying them allocates nothing of its own.
type talker struct {
	n      int
	chunks []*llm.Chunk
}

func newTalker(n int) *talker {
	t := &talker{n: n}
	for i := range n {
		t.chunks = append(t.chunks, &llm.Chunk{
			Data:       fmt.Appendf(nil, `{"choices":[{"index":0,"delta":{"content":"w%d "}}]}`, i),
			HasContent: true,
		})
	}
	t.chunks = append(t.chunks, &llm.Chunk{
		Data:         []byte(`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`),
		HasContent:   true,
		FinishReason: "stop",
	}, &llm.Chunk{Data: []byte(`{"choices":[]}`), Usage: &llm.Usage{PromptTokens: 7, CompletionTokens: n}})
	return t
}

func (t *talker) Chat(ctx context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	return &llm.ChatResponse{
		Model:         req.Model,
		Body:          []byte(`{"choices":[{"index":0,"message":{"role":"assistant","content":"hello jane"},"finish_reason":"stop"}]}`),
		FinishReasons: []string{"stop"},
		Usage:         llm.Usage{PromptTokens: 5, CompletionTokens: 2},
	}, nil
}

func (t *talker) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	return &llm.EmbedResponse{Model: req.Model}, nil
}

func (t *talker) Stream(ctx context.Context, req *llm.ChatRequest) (llm.Stream, error) {
	return &chunks{c: t.chunks}, nil
}

// logged collects request log records.
type logged struct {
	mu   sync.Mutex
	recs []reqlog.Record
}

func (l *logged) Add(r reqlog.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
}

func (l *logged) all() []reqlog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]reqlog.Record(nil), l.recs...)
}

// discard counts request log records and keeps none.
type discard struct{ n int }

func (d *discard) Add(reqlog.Record) { d.n++ }

// talkGateway serves alias "chat" from a failing target "a" with the
// fallback "talk" on p.
func talkGateway(t *testing.T, p llm.Provider, failing *fake) *Gateway {
	t.Helper()
	tbl, err := route.New([]config.Model{
		{Name: "chat", Targets: []config.Target{{Provider: "a", Model: "ma"}}, Fallbacks: []string{"talk"}},
		{Name: "talk", Targets: []config.Target{{Provider: "t", Model: "mt"}}},
	}, map[string]llm.Provider{"a": failing, "t": p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return New(tbl, Options{Status: func(err error) int {
		var me *ModelError
		if errors.As(err, &me) {
			return 404
		}
		return 503
	}})
}

var alice = tenant.Principal{TenantID: "acme", KeyID: "key_1"}

func TestRequestLogRecordsEachRequestOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		failing := &fake{name: "a", err: &llm.Error{Kind: llm.KindOverloaded, Status: 503}}
		g := talkGateway(t, newTalker(3), failing)
		l := &logged{}
		g.SetRequestLog(l, 0)

		if _, _, err := g.Chat(t.Context(), alice, req()); err != nil {
			t.Fatal(err)
		}
		if _, _, err := g.Chat(t.Context(), alice, &llm.ChatRequest{Model: "nope"}); err == nil {
			t.Fatal("unknown model answered")
		}
		recs := l.all()
		if len(recs) != 2 {
			t.Fatalf("%d records for 2 requests", len(recs))
		}
		ok := recs[0]
		if ok.TenantID != "acme" || ok.KeyID != "key_1" || ok.Alias != "chat" || ok.Operation != "chat" || ok.Stream {
			t.Errorf("who and what: %+v", ok)
		}
		if ok.Status != 200 || ok.ErrorType != "" || ok.Target != "t/mt" || ok.FinishReason != "stop" {
			t.Errorf("outcome: %+v", ok)
		}
		if ok.PromptTokens != 5 || ok.CompletionTokens != 2 || ok.TimeToFirstToken != ok.Latency {
			t.Errorf("tokens and timing: %+v", ok)
		}
		if n := len(ok.Attempts); n != 3 || ok.Attempts[0].Target != "a/ma" || ok.Attempts[0].ErrorKind != "overloaded" ||
			ok.Attempts[0].Status != 503 || ok.Attempts[n-1].Target != "t/mt" || ok.Attempts[n-1].ErrorKind != "" {
			t.Errorf("attempts: %+v", ok.Attempts)
		}
		if ok.Content != nil {
			t.Errorf("content captured with capture off: %+v", ok.Content)
		}
		bad := recs[1]
		if bad.Status != 404 || bad.ErrorType != "model_not_found" || bad.Target != "" || len(bad.Attempts) != 0 {
			t.Errorf("unknown model: %+v", bad)
		}
	})
}

func TestRequestLogCapturesPromptAndAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := talkGateway(t, newTalker(4), &fake{name: "a"})
		l := &logged{}
		g.SetRequestLog(l, 1024)
		r := &llm.ChatRequest{Model: "talk", Messages: []llm.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hi"}}}
		if _, _, err := g.Chat(t.Context(), alice, r); err != nil {
			t.Fatal(err)
		}
		s, _, err := g.Stream(t.Context(), alice, r, StreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := s.Recv(); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
				break
			}
		}
		s.Close()
		recs := l.all()
		if len(recs) != 2 {
			t.Fatalf("%d records", len(recs))
		}
		chat, stream := recs[0], recs[1]
		if c := chat.Content; c == nil || c.Completion != "hello jane" || len(c.Messages) != 2 ||
			c.Messages[0] != (reqlog.Message{Role: "system", Content: "be brief"}) || c.Messages[1].Content != "hi" {
			t.Errorf("chat content: %+v", chat.Content)
		}
		if c := stream.Content; c == nil || c.Completion != "w0 w1 w2 w3 " || len(c.Messages) != 2 {
			t.Errorf("stream content: %+v", stream.Content)
		}
		if !stream.Stream || stream.CompletionTokens != 4 || stream.PromptTokens != 7 || stream.FinishReason != "stop" || stream.Status != 200 {
			t.Errorf("stream record: %+v", stream)
		}
	})
}

func TestRequestLogClipsCapturedText(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := talkGateway(t, newTalker(2000), &fake{name: "a"})
		l := &logged{}
		g.SetRequestLog(l, 10)
		long := strings.Repeat("é", 1000)
		r := &llm.ChatRequest{Model: "talk", Messages: []llm.Message{{Role: "user", Content: long}, {Role: "user", Content: "dropped"}}}
		s, _, err := g.Stream(t.Context(), alice, r, StreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := s.Recv(); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("stream: %v", err)
				}
				break
			}
		}
		s.Close()
		c := l.all()[0].Content
		limit := 10 + reqlog.Margin
		if len(c.Messages) != 1 || len(c.Messages[0].Content) > limit || !strings.HasPrefix(long, c.Messages[0].Content) || !c.Truncated {
			t.Errorf("messages kept %d bytes of %d (limit %d), truncated %v", len(c.Messages[0].Content), len(long), limit, c.Truncated)
		}
		if len(c.Completion) != limit {
			t.Errorf("completion kept %d bytes; want %d", len(c.Completion), limit)
		}
	})
}

// streamAllocs returns the allocations of one streamed request relaying
// n content chunks.
func streamAllocs(t *testing.T, n, capture int) float64 {
	g := talkGateway(t, newTalker(n), &fake{name: "a"})
	g.SetRequestLog(&discard{}, capture)
	r := &llm.ChatRequest{Model: "talk", Messages: []llm.Message{{Role: "user", Content: "hi"}}}
	ctx := context.Background()
	return testing.AllocsPerRun(20, func() {
		s, _, err := g.Stream(ctx, alice, r, StreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := s.Recv(); err != nil {
				break
			}
		}
		s.Close()
	})
}

// With the request log on and content capture off, relaying a chunk
// costs no allocation: a stream of 200 chunks allocates what one of 10
// does. With capture on, the text is parsed out of each chunk, which the
// same measure shows.
func TestStreamCaptureCostsNothingWhenOff(t *testing.T) {
	// AllocsPerRun counts every goroutine's allocations, so a timer or a
	// background goroutine of the run may add one now and then; a chunk
	// that allocated would add 190 more.
	short, long := streamAllocs(t, 10, 0), streamAllocs(t, 200, 0)
	if long > short+2 {
		t.Errorf("capture off: %v allocations for 10 chunks, %v for 200: relaying a chunk allocates", short, long)
	}
	short, long = streamAllocs(t, 10, 1<<20), streamAllocs(t, 200, 1<<20)
	if long <= short {
		t.Errorf("capture on: %v allocations for 10 chunks, %v for 200: the measure cannot see per-chunk work", short, long)
	}
}

func TestSummaryIsFilledWhenAStreamEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		failing := &fake{name: "a", err: &llm.Error{Kind: llm.KindServer, Status: 500}}
		g := talkGateway(t, newTalker(3), failing)
		var sum Summary
		ctx := WithSummary(t.Context(), &sum)
		s, _, err := g.Stream(ctx, alice, req(), StreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Ended {
			t.Error("summary filled in before the stream ended")
		}
		for {
			if _, err := s.Recv(); err != nil {
				break
			}
		}
		s.Close()
		if !sum.Ended || sum.Alias != "chat" || sum.Target != "t/mt" || sum.Attempts < 2 || sum.InputTokens != 7 ||
			sum.OutputTokens != 3 || sum.ErrorType != "" || sum.Upstream <= 0 {
			t.Errorf("summary = %+v", sum)
		}
	})
}
