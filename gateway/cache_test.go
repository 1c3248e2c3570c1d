package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/cache"
	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/usage"
)

// scripted answers chat calls with finish, and streams with the chunks of
// stream then end (io.EOF, or an error for a broken stream). It counts
// its calls.
type scripted struct {
	mu     sync.Mutex
	calls  int
	finish []string
	stream []*llm.Chunk
	end    error
	fail   error
}

func (s *scripted) call() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return s.fail
}

func (s *scripted) n() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *scripted) Chat(ctx context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	if err := s.call(); err != nil {
		return nil, err
	}
	return &llm.ChatResponse{Model: req.Model, Body: fmt.Appendf(nil, `{"answer":%d}`, s.n()), FinishReasons: s.finish, Usage: billedUsage}, nil
}

func (s *scripted) Embed(context.Context, *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	return nil, errors.New("no embeddings")
}

func (s *scripted) Stream(ctx context.Context, req *llm.ChatRequest) (llm.Stream, error) {
	if err := s.call(); err != nil {
		return nil, err
	}
	return &scriptedStream{c: append([]*llm.Chunk(nil), s.stream...), end: s.end}, nil
}

type scriptedStream struct {
	c   []*llm.Chunk
	end error
}

func (s *scriptedStream) Recv() (*llm.Chunk, error) {
	if len(s.c) == 0 {
		return nil, s.end
	}
	c := s.c[0]
	s.c = s.c[1:]
	return c, nil
}

func (s *scriptedStream) Close() error { return nil }

var streamUsage = llm.Usage{PromptTokens: 7, CompletionTokens: 2, TotalTokens: 9}

func goodStream() []*llm.Chunk {
	u := streamUsage
	return []*llm.Chunk{
		{Data: []byte(`{"c":"hel"}`), HasContent: true, Model: "m"},
		{Data: []byte(`{"c":"lo"}`), HasContent: true},
		{Data: []byte(`{"f":"stop"}`), HasContent: true, FinishReason: "stop"},
		{Data: []byte(`{"u":1}`), Usage: &u},
	}
}

// failingCache is a backend that is down.
type failingCache struct{}

func (failingCache) Get(context.Context, string) ([]byte, bool, error) {
	return nil, false, errors.New("down")
}

func (failingCache) Set(context.Context, string, []byte, time.Duration) error {
	return errors.New("down")
}

// cached builds a gateway whose aliases "chat" (deterministic requests
// cached), "any" (cache.exact: true) and "never" (cache.exact: false) are
// served by p, with the response cache c and a usage sink.
func cached(t *testing.T, p llm.Provider, c Cache) (*Gateway, *sink) {
	t.Helper()
	yes, no := true, false
	models := []config.Model{
		{Name: "chat", Targets: []config.Target{{Provider: "p", Model: "m"}}},
		{Name: "any", Targets: []config.Target{{Provider: "p", Model: "m"}}, Cache: config.ModelCache{Exact: &yes}},
		{Name: "never", Targets: []config.Target{{Provider: "p", Model: "m"}}, Cache: config.ModelCache{Exact: &no}},
	}
	for i := range models {
		models[i].Retry.PerTarget = 1
	}
	tbl, err := route.New(models, map[string]llm.Provider{"p": p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := New(tbl, Options{})
	s := &sink{}
	g.SetUsage(s)
	prices, _ := usage.NewPrices(map[string]usage.Price{"p/m": {Input: 1, Output: 1}})
	g.SetPrices(prices)
	g.SetCache(c, CacheOptions{Enabled: true, TTL: time.Hour})
	return g, s
}

func chatReq(alias, body string) *llm.ChatRequest {
	return &llm.ChatRequest{Model: alias, Messages: []llm.Message{{Role: "user", Content: "hi"}}, Body: []byte(body)}
}

const detBody = `{"model":"chat","messages":[{"role":"user","content":"hi"}],"temperature":0}`

var (
	acme   = tenant.Principal{TenantID: "acme", KeyID: "key_a"}
	globex = tenant.Principal{TenantID: "globex", KeyID: "key_g"}
)

func TestCacheMissThenHitRecordedAtZeroCost(t *testing.T) {
	p := &scripted{finish: []string{"stop"}}
	g, s := cached(t, p, cache.NewMemory(1<<20, nil))
	first, out, err := g.Chat(t.Context(), acme, chatReq("chat", detBody))
	if err != nil || out.Cache != CacheMiss {
		t.Fatalf("first: %v, cache %q", err, out.Cache)
	}
	second, out, err := g.Chat(t.Context(), acme, chatReq("chat", detBody))
	if err != nil || out.Cache != CacheHit || out.Attempts != 0 || out.Target != nil {
		t.Fatalf("second: %v, %+v", err, out)
	}
	if string(second.Body) != string(first.Body) || second.Usage != first.Usage || p.n() != 1 {
		t.Errorf("hit %s %+v after %d calls; want the first answer %s from one call", second.Body, second.Usage, p.n(), first.Body)
	}
	recs := s.all()
	if len(recs) != 2 {
		t.Fatalf("%d usage records", len(recs))
	}
	if r := recs[0]; r.CacheHit || r.Cost == 0 {
		t.Errorf("miss record %+v", r)
	}
	if r := recs[1]; !r.CacheHit || r.Cost != 0 || r.Attempts != 0 || r.Target != "" || r.Status != usage.StatusOK ||
		r.PromptTokens != 10 || r.CompletionTokens != 5 {
		t.Errorf("hit record %+v; want cache_hit at cost 0 with the answer's tokens", r)
	}
}

func TestCacheHonoursNoCacheAndNoStore(t *testing.T) {
	p := &scripted{finish: []string{"stop"}}
	g, _ := cached(t, p, cache.NewMemory(1<<20, nil))
	req := func(noCache, noStore bool) *llm.ChatRequest {
		r := chatReq("chat", detBody)
		r.NoCache, r.NoStore = noCache, noStore
		return r
	}
	// no-store: not looked up, not stored.
	if _, out, _ := g.Chat(t.Context(), acme, req(false, true)); out.Cache != "" {
		t.Errorf("no-store: cache %q", out.Cache)
	}
	if _, out, _ := g.Chat(t.Context(), acme, req(false, false)); out.Cache != CacheMiss {
		t.Errorf("after no-store: cache %q, want a miss", out.Cache)
	}
	// no-cache: not answered from the cache, but the fresh answer is stored.
	resp, out, _ := g.Chat(t.Context(), acme, req(true, false))
	if out.Cache != CacheMiss || p.n() != 3 {
		t.Errorf("no-cache: cache %q after %d calls", out.Cache, p.n())
	}
	hit, out, _ := g.Chat(t.Context(), acme, req(false, false))
	if out.Cache != CacheHit || string(hit.Body) != string(resp.Body) {
		t.Errorf("after no-cache: cache %q, %s; want the refreshed %s", out.Cache, hit.Body, resp.Body)
	}
	// no-store on a cached request: the upstream answers.
	if _, out, _ := g.Chat(t.Context(), acme, req(false, true)); out.Cache != "" || p.n() != 4 {
		t.Errorf("no-store: cache %q after %d calls", out.Cache, p.n())
	}
}

func TestCacheOnlyDeterministicUnlessTheAliasOptsIn(t *testing.T) {
	p := &scripted{finish: []string{"stop"}}
	g, _ := cached(t, p, cache.NewMemory(1<<20, nil))
	random := `{"messages":[{"role":"user","content":"hi"}],"temperature":0.7}`
	for i := range 2 {
		if _, out, _ := g.Chat(t.Context(), acme, chatReq("chat", random)); out.Cache != "" {
			t.Errorf("non-deterministic request %d: cache %q", i, out.Cache)
		}
		if _, out, _ := g.Chat(t.Context(), acme, chatReq("never", detBody)); out.Cache != "" {
			t.Errorf("exact: false, request %d: cache %q", i, out.Cache)
		}
	}
	if _, out, _ := g.Chat(t.Context(), acme, chatReq("any", random)); out.Cache != CacheMiss {
		t.Errorf("exact: true, first: %q", out.Cache)
	}
	if _, out, _ := g.Chat(t.Context(), acme, chatReq("any", random)); out.Cache != CacheHit {
		t.Errorf("exact: true, second: %q", out.Cache)
	}
	// With a seed, a request is deterministic.
	seeded := `{"messages":[{"role":"user","content":"hi"}],"seed":3}`
	g.Chat(t.Context(), acme, chatReq("chat", seeded))
	if _, out, _ := g.Chat(t.Context(), acme, chatReq("chat", seeded)); out.Cache != CacheHit {
		t.Errorf("seeded second: %q", out.Cache)
	}
}

func TestCacheKeepsTenantsApart(t *testing.T) {
	p := &scripted{finish: []string{"stop"}}
	g, _ := cached(t, p, cache.NewMemory(1<<20, nil))
	g.Chat(t.Context(), acme, chatReq("chat", detBody))
	resp, out, err := g.Chat(t.Context(), globex, chatReq("chat", detBody))
	if err != nil || out.Cache != CacheMiss || p.n() != 2 || string(resp.Body) != `{"answer":2}` {
		t.Fatalf("globex got %s (cache %q, %v) after %d calls; want its own answer", resp.Body, out.Cache, err, p.n())
	}
}

func TestCacheStoresOnlyCompleteAnswers(t *testing.T) {
	for name, tc := range map[string]struct {
		finish []string
		n      int
	}{
		"content_filter":    {finish: []string{"content_filter"}},
		"no finish":         {finish: nil},
		"unknown finish":    {finish: []string{""}},
		"n=2, one short":    {finish: []string{"stop"}, n: 2},
		"n=2, one filtered": {finish: []string{"stop", "content_filter"}, n: 2},
	} {
		t.Run(name, func(t *testing.T) {
			p := &scripted{finish: tc.finish}
			g, _ := cached(t, p, cache.NewMemory(1<<20, nil))
			for range 2 {
				r := chatReq("chat", detBody)
				r.N = tc.n
				if _, out, _ := g.Chat(t.Context(), acme, r); out.Cache != CacheMiss {
					t.Errorf("cache %q; want a miss each time", out.Cache)
				}
			}
		})
	}
	// n=2 with both choices complete is cached whole.
	p := &scripted{finish: []string{"stop", "length"}}
	g, _ := cached(t, p, cache.NewMemory(1<<20, nil))
	body := `{"messages":[{"role":"user","content":"hi"}],"temperature":0,"n":2}`
	for i, want := range []string{CacheMiss, CacheHit} {
		r := chatReq("chat", body)
		r.N = 2
		resp, out, _ := g.Chat(t.Context(), acme, r)
		if out.Cache != want || len(resp.FinishReasons) != 2 {
			t.Errorf("n=2 request %d: cache %q, finish %v", i, out.Cache, resp.FinishReasons)
		}
	}
}

func TestCacheNeverStoresAFailure(t *testing.T) {
	p := &scripted{finish: []string{"stop"}, fail: &llm.Error{Kind: llm.KindServer, Status: 500, Provider: "p"}}
	g, _ := cached(t, p, cache.NewMemory(1<<20, nil))
	if _, _, err := g.Chat(t.Context(), acme, chatReq("chat", detBody)); err == nil {
		t.Fatal("no error")
	}
	p.fail = nil
	if _, out, err := g.Chat(t.Context(), acme, chatReq("chat", detBody)); err != nil || out.Cache != CacheMiss {
		t.Errorf("after a failure: %v, cache %q; want a miss", err, out.Cache)
	}
}

func TestCacheFailsOpen(t *testing.T) {
	p := &scripted{finish: []string{"stop"}, stream: goodStream(), end: io.EOF}
	g, s := cached(t, p, failingCache{})
	for i := range 2 {
		resp, out, err := g.Chat(t.Context(), acme, chatReq("chat", detBody))
		if err != nil || resp == nil || out.Cache != CacheMiss {
			t.Fatalf("request %d with the cache down: %v, cache %q", i, err, out.Cache)
		}
	}
	st, _, err := g.Stream(t.Context(), acme, chatReq("chat", detBody), StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	drain(t, st)
	if p.n() != 3 || len(s.all()) != 3 {
		t.Errorf("%d calls, %d records; want 3 of each", p.n(), len(s.all()))
	}
}

// drain reads a stream to its end and returns its chunks and end.
func drain(t *testing.T, s llm.Stream) ([]*llm.Chunk, error) {
	t.Helper()
	defer s.Close()
	var got []*llm.Chunk
	for {
		c, err := s.Recv()
		if err != nil {
			return got, err
		}
		got = append(got, c)
	}
}

func TestCacheReplaysAStreamAsTheStream(t *testing.T) {
	p := &scripted{stream: goodStream(), end: io.EOF}
	g, s := cached(t, p, cache.NewMemory(1<<20, nil))
	st, out, err := g.Stream(t.Context(), acme, chatReq("chat", detBody), StreamOptions{})
	if err != nil || out.Cache != CacheMiss {
		t.Fatalf("first: %v, %q", err, out.Cache)
	}
	first, end := drain(t, st)
	if end != io.EOF {
		t.Fatal(end)
	}
	st, out, err = g.Stream(t.Context(), acme, chatReq("chat", detBody), StreamOptions{})
	if err != nil || out.Cache != CacheHit {
		t.Fatalf("second: %v, %q", err, out.Cache)
	}
	if u, ok := StreamUsage(st); !ok || u != streamUsage {
		t.Errorf("StreamUsage = %+v, %v", u, ok)
	}
	second, end := drain(t, st)
	if end != io.EOF || len(second) != len(first) || p.n() != 1 {
		t.Fatalf("replayed %d chunks, end %v, after %d calls; want %d and io.EOF from one call", len(second), end, p.n(), len(first))
	}
	for i := range first {
		a, b := first[i], second[i]
		if string(a.Data) != string(b.Data) || a.HasContent != b.HasContent || a.FinishReason != b.FinishReason ||
			a.Model != b.Model || (a.Usage == nil) != (b.Usage == nil) || (a.Usage != nil && *a.Usage != *b.Usage) {
			t.Errorf("chunk %d = %+v, want %+v", i, b, a)
		}
	}
	// A non-streamed request does not get the streamed answer.
	if _, out, _ := g.Chat(t.Context(), acme, chatReq("chat", detBody)); out.Cache != CacheMiss {
		t.Errorf("chat after stream: %q", out.Cache)
	}
	recs := s.all()
	if len(recs) != 3 || !recs[1].CacheHit || !recs[1].Stream || recs[1].Cost != 0 || recs[1].PromptTokens != 7 {
		t.Errorf("records %+v", recs)
	}
}

func TestCacheNeverStoresABrokenOrUnfinishedStream(t *testing.T) {
	broken := &llm.Error{Kind: llm.KindStreamBroken, Provider: "p", Message: "cut"}
	for name, p := range map[string]*scripted{
		"broken after content": {stream: goodStream()[:2], end: broken},
		"broken after finish":  {stream: goodStream()[:3], end: broken},
		"ended unfinished":     {stream: goodStream()[:2], end: io.EOF},
		"content_filter": {stream: []*llm.Chunk{{Data: []byte(`{}`), HasContent: true},
			{Data: []byte(`{}`), HasContent: true, FinishReason: "content_filter"}}, end: io.EOF},
	} {
		t.Run(name, func(t *testing.T) {
			g, _ := cached(t, p, cache.NewMemory(1<<20, nil))
			for i := range 2 {
				st, out, err := g.Stream(t.Context(), acme, chatReq("chat", detBody), StreamOptions{})
				if err != nil || out.Cache != CacheMiss {
					t.Fatalf("stream %d: %v, cache %q; want a miss", i, err, out.Cache)
				}
				drain(t, st)
			}
		})
	}
	// A client that leaves before the end stores nothing either.
	p := &scripted{stream: goodStream(), end: io.EOF}
	g, _ := cached(t, p, cache.NewMemory(1<<20, nil))
	st, _, _ := g.Stream(t.Context(), acme, chatReq("chat", detBody), StreamOptions{})
	st.Recv()
	st.Close()
	if st, out, _ := g.Stream(t.Context(), acme, chatReq("chat", detBody), StreamOptions{}); out.Cache != CacheMiss {
		t.Errorf("after an abandoned stream: %q", out.Cache)
	} else {
		drain(t, st)
	}
}

func TestCacheSkipsStreamsOfSeveralChoicesAndOversizedAnswers(t *testing.T) {
	p := &scripted{stream: goodStream(), end: io.EOF}
	g, _ := cached(t, p, cache.NewMemory(1<<20, nil))
	r := chatReq("chat", `{"messages":[],"temperature":0,"n":2}`)
	r.N = 2
	st, out, err := g.Stream(t.Context(), acme, r, StreamOptions{})
	if err != nil || out.Cache != "" {
		t.Fatalf("n=2 stream: %v, cache %q; want not cacheable", err, out.Cache)
	}
	drain(t, st)

	g.SetCache(cache.NewMemory(1<<20, nil), CacheOptions{Enabled: true, MaxEntryBytes: 64})
	for i := range 2 {
		if _, out, _ := g.Chat(t.Context(), acme, chatReq("chat", detBody)); out.Cache != CacheMiss {
			t.Errorf("oversized answer %d: %q", i, out.Cache)
		}
	}
}
