package gateway

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/limit"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/usage"
)

// billed is a provider that fails its first fails calls, then answers
// with fixed usage; its stream sends one content chunk and a usage chunk.
type billed struct {
	name  string
	fails int
	calls int
	mu    sync.Mutex
}

var billedUsage = llm.Usage{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15}

func (b *billed) next() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	if b.calls <= b.fails {
		return &llm.Error{Kind: llm.KindServer, Status: 500, Provider: b.name}
	}
	return nil
}

func (b *billed) Chat(ctx context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	if err := b.next(); err != nil {
		return nil, err
	}
	return &llm.ChatResponse{Model: req.Model, Body: []byte(`{}`), Usage: billedUsage}, nil
}

func (b *billed) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	if err := b.next(); err != nil {
		return nil, err
	}
	return &llm.EmbedResponse{Model: req.Model, Usage: llm.Usage{PromptTokens: 3, TotalTokens: 3}}, nil
}

func (b *billed) Stream(ctx context.Context, req *llm.ChatRequest) (llm.Stream, error) {
	if err := b.next(); err != nil {
		return nil, err
	}
	u := billedUsage
	return &chunks{c: []*llm.Chunk{{Data: []byte(`{}`), HasContent: true}, {Data: []byte(`{}`), Usage: &u}}}, nil
}

type chunks struct{ c []*llm.Chunk }

func (s *chunks) Recv() (*llm.Chunk, error) {
	if len(s.c) == 0 {
		return nil, io.EOF
	}
	c := s.c[0]
	s.c = s.c[1:]
	return c, nil
}

func (s *chunks) Close() error { return nil }

// sink collects usage records.
type sink struct {
	mu   sync.Mutex
	recs []usage.Record
}

func (s *sink) Add(r usage.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, r)
}

func (s *sink) all() []usage.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]usage.Record(nil), s.recs...)
}

// settles wraps a limiter and records how its reservations were settled.
type settles struct {
	limit.Limiter
	mu        sync.Mutex
	commits   []int
	cancels   int
	estimates []int
}

func (s *settles) Reserve(ctx context.Context, sc []limit.Scope, tokens int) (limit.Reservation, limit.Decision, error) {
	res, d, err := s.Limiter.Reserve(ctx, sc, tokens)
	s.mu.Lock()
	s.estimates = append(s.estimates, tokens)
	s.mu.Unlock()
	if res == nil {
		return nil, d, err
	}
	return &settled{Reservation: res, s: s}, d, err
}

type settled struct {
	limit.Reservation
	s *settles
}

func (r *settled) Commit(ctx context.Context, tokens int) error {
	r.s.mu.Lock()
	r.s.commits = append(r.s.commits, tokens)
	r.s.mu.Unlock()
	return r.Reservation.Commit(ctx, tokens)
}

func (r *settled) Cancel(ctx context.Context) error {
	r.s.mu.Lock()
	r.s.cancels++
	r.s.mu.Unlock()
	return r.Reservation.Cancel(ctx)
}

// governed builds a gateway whose alias "chat" is served by a, failing
// over to the alias "backup" on b, with a limiter, a usage sink and
// prices for both targets.
func governed(t *testing.T, aFails, bFails int) (*Gateway, *settles, *sink) {
	t.Helper()
	a, b := &billed{name: "a", fails: aFails}, &billed{name: "b", fails: bFails}
	chat := config.Model{Name: "chat", Targets: []config.Target{{Provider: "a", Model: "ma"}}, Fallbacks: []string{"backup"}}
	chat.Retry.PerTarget = 1
	backup := config.Model{Name: "backup", Targets: []config.Target{{Provider: "b", Model: "mb"}}}
	backup.Retry.PerTarget = 1
	tbl, err := route.New([]config.Model{chat, backup}, map[string]llm.Provider{"a": a, "b": b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := New(tbl, Options{})
	lim := &settles{Limiter: limit.NewMemory(limit.MemoryOptions{})}
	s := &sink{}
	prices, err := usage.NewPrices(map[string]usage.Price{"a/ma": {Input: 100, Output: 100}, "b/mb": {Input: 1, Output: 2}})
	if err != nil {
		t.Fatal(err)
	}
	g.SetLimiter(lim)
	g.SetUsage(s)
	g.SetPrices(prices)
	return g, lim, s
}

var limited = tenant.Principal{TenantID: "acme", KeyID: "key_1",
	KeyLimits: tenant.Limits{RequestsPerMinute: 2, TokensPerMinute: 100000}, TenantLimits: tenant.Limits{Concurrent: 5}}

func TestOneRecordPerRequestBilledToTheAnsweringTarget(t *testing.T) {
	g, lim, s := governed(t, 1, 0) // a fails once, b answers
	_, out, err := g.Chat(t.Context(), limited, req())
	if err != nil || out.Target.Provider != "b" {
		t.Fatalf("Chat: %v, %+v", err, out.Tried)
	}
	recs := s.all()
	if len(recs) != 1 {
		t.Fatalf("%d records for one request; want 1", len(recs))
	}
	r := recs[0]
	// b/mb: 1 $/M input, 2 $/M output → (10 + 2×5) × 1000 nano-dollars.
	if r.TenantID != "acme" || r.KeyID != "key_1" || r.Alias != "chat" || r.Target != "b/mb" ||
		r.Attempts != 2 || r.PromptTokens != 10 || r.CompletionTokens != 5 || r.Cost != 20000 || r.Status != usage.StatusOK {
		t.Errorf("record = %+v", r)
	}
	if len(lim.commits) != 1 || lim.commits[0] != 15 || lim.cancels != 0 {
		t.Errorf("commits %v, cancels %d; want one commit of 15 tokens", lim.commits, lim.cancels)
	}
	if rl := out.RateLimit; rl == nil || rl.Requests.Limit != 2 || rl.Requests.Remaining != 1 || rl.Tokens.Limit != 100000 {
		t.Errorf("rate limit = %+v", out.RateLimit)
	}
}

func TestFailedRequestCostsNothingAndGivesItsQuotaBack(t *testing.T) {
	g, lim, s := governed(t, 1, 1) // the first request fails on both targets
	_, out, err := g.Chat(t.Context(), limited, req())
	if err == nil || out.Attempts != 2 {
		t.Fatalf("Chat = %v, %d attempts; want a failure after 2", err, out.Attempts)
	}
	recs := s.all()
	if len(recs) != 1 || recs[0].Cost != 0 || recs[0].PromptTokens != 0 || recs[0].Status != "server_error" || recs[0].Target != "b/mb" {
		t.Fatalf("records = %+v; want one unbilled server_error", recs)
	}
	if lim.cancels != 1 || len(lim.commits) != 0 {
		t.Errorf("commits %v, cancels %d; want one cancel", lim.commits, lim.cancels)
	}
	// The cancelled request did not count: two more fit the limit of 2.
	for i := range 2 {
		if _, _, err := g.Embed(t.Context(), limited, &llm.EmbedRequest{Model: "chat", Input: []string{"x"}}); err != nil {
			t.Fatalf("request %d after a cancelled one: %v", i, err)
		}
	}
	_, out, err = g.Chat(t.Context(), limited, req())
	var le *limit.Error
	if !errors.As(err, &le) || le.Dimension != limit.Requests || le.RetryAfter <= 0 || out.RateLimit == nil {
		t.Fatalf("third request = %v, %+v; want a requests refusal with RetryAfter", err, out.RateLimit)
	}
	if recs := s.all(); len(recs) != 4 || recs[3].Status == usage.StatusOK || recs[3].Attempts != 0 {
		t.Errorf("refused request recorded as %+v", recs[len(recs)-1])
	}
}

func TestStreamCommitsAndRecordsAtItsEnd(t *testing.T) {
	g, lim, s := governed(t, 0, 0)
	st, out, err := g.Stream(t.Context(), limited, req(), StreamOptions{})
	if err != nil || out.RateLimit == nil {
		t.Fatalf("Stream: %v, %+v", err, out.RateLimit)
	}
	if len(s.all()) != 0 || len(lim.commits) != 0 {
		t.Fatalf("recorded before the stream ended")
	}
	for {
		if _, err := st.Recv(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
	}
	_ = st.Close()
	recs := s.all()
	if len(recs) != 1 || !recs[0].Stream || recs[0].PromptTokens != 10 || recs[0].CompletionTokens != 5 || recs[0].Target != "a/ma" {
		t.Fatalf("records = %+v", recs)
	}
	if len(lim.commits) != 1 || lim.commits[0] != 15 {
		t.Errorf("commits %v; want 15", lim.commits)
	}
}

func TestUnlimitedPrincipalReservesNothing(t *testing.T) {
	g, lim, s := governed(t, 0, 0)
	_, out, err := g.Chat(t.Context(), tenant.Principal{TenantID: "acme", KeyID: "key_2"}, req())
	if err != nil || out.RateLimit != nil || len(lim.estimates) != 0 {
		t.Fatalf("err %v, rate limit %+v, reserves %d; want none", err, out.RateLimit, len(lim.estimates))
	}
	if len(s.all()) != 1 {
		t.Errorf("an unlimited request is still recorded")
	}
}
