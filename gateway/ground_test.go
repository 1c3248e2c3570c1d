package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tenant"
)

// recording answers every chat and keeps the last request it got.
type recording struct {
	mu   sync.Mutex
	last *llm.ChatRequest
}

func (r *recording) Chat(ctx context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	r.mu.Lock()
	c := *req
	r.last = &c
	r.mu.Unlock()
	return &llm.ChatResponse{Model: req.Model, Body: []byte(`{"ok":true}`), FinishReasons: []string{"stop"}}, nil
}

func (r *recording) Embed(context.Context, *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	return nil, errors.New("no embeddings")
}

func (r *recording) Stream(ctx context.Context, req *llm.ChatRequest) (llm.Stream, error) {
	return nil, errors.New("no streams")
}

// retrieverFunc is a Retriever.
type retrieverFunc func(ctx context.Context, tenantID string, storeIDs []string, query string, max int, minScore float64) ([]Source, error)

func (f retrieverFunc) Retrieve(ctx context.Context, tenantID string, storeIDs []string, query string, max int, minScore float64) ([]Source, []float32, error) {
	s, err := f(ctx, tenantID, storeIDs, query, max, minScore)
	return s, []float32{1, 0}, err
}

// grounded builds a gateway whose aliases "kb" (fails without retrieval),
// "kb-soft" (answers without it) and "plain" are served by p.
func grounded(t *testing.T, p llm.Provider, r Retriever, timeout time.Duration, concurrent int) *Gateway {
	t.Helper()
	k := config.AliasKnowledge{VectorStoreIDs: []string{"vs_1"}, MaxNumResults: 2, Timeout: config.Duration(timeout), MaxConcurrent: concurrent}
	soft := k
	soft.OnFailure = config.RetrievalAnswer
	models := []config.Model{
		{Name: "kb", Targets: []config.Target{{Provider: "p", Model: "m"}}, Knowledge: k},
		{Name: "kb-soft", Targets: []config.Target{{Provider: "p", Model: "m"}}, Knowledge: soft},
		{Name: "plain", Targets: []config.Target{{Provider: "p", Model: "m"}}},
	}
	tbl, err := route.New(models, map[string]llm.Provider{"p": p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := New(tbl, Options{})
	if r != nil {
		g.SetRetriever(r)
	}
	return g
}

func groundReq(alias string) *llm.ChatRequest {
	return &llm.ChatRequest{Model: alias, Messages: []llm.Message{{Role: "user", Content: "who answers pages?"}},
		Body: []byte(`{"model":"` + alias + `","messages":[{"role":"user","content":"who answers pages?"}],"temperature":0.2}`)}
}

// TestGroundingGivesTheModelTheChunks: the chunks found for the last user
// message go first, in a system message of the body every vendor reads,
// numbered for citation; the Outcome carries them; the client's other
// fields are kept. An alias without knowledge is not searched.
func TestGroundingGivesTheModelTheChunks(t *testing.T) {
	p := &recording{}
	var searched []string
	g := grounded(t, p, retrieverFunc(func(ctx context.Context, tenantID string, stores []string, q string, max int, _ float64) ([]Source, error) {
		searched = append(searched, tenantID+"|"+q)
		if max != 2 || len(stores) != 1 || stores[0] != "vs_1" {
			t.Errorf("search of %v for %d", stores, max)
		}
		return []Source{{StoreID: "vs_1", FileID: "file-1", Filename: "handbook.md", Text: "The on-call engineer answers pages.", Page: 2, Score: 0.9}}, nil
	}), time.Second, 4)
	_, out, err := g.Chat(t.Context(), tenant.Principal{TenantID: "acme"}, groundReq("kb"))
	if err != nil {
		t.Fatal(err)
	}
	if out.Grounding == nil || len(out.Grounding.Sources) != 1 || out.Grounding.Tokens == 0 || out.Grounding.Degraded != "" {
		t.Fatalf("Outcome.Grounding = %+v", out.Grounding)
	}
	var body struct {
		Messages    []map[string]string `json:"messages"`
		Temperature float64             `json:"temperature"`
	}
	if err := json.Unmarshal(p.last.Body, &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Messages) != 2 || body.Messages[0]["role"] != "system" || body.Messages[1]["content"] != "who answers pages?" ||
		body.Temperature != 0.2 || len(p.last.Messages) != 2 || p.last.Messages[0].Content != body.Messages[0]["content"] {
		t.Fatalf("upstream request %s", p.last.Body)
	}
	for _, want := range []string{"[1] handbook.md (page 2)", "The on-call engineer answers pages.", "cite"} {
		if !strings.Contains(body.Messages[0]["content"], want) {
			t.Errorf("context lacks %q: %s", want, body.Messages[0]["content"])
		}
	}
	if len(searched) != 1 || searched[0] != "acme|who answers pages?" {
		t.Errorf("searches %v", searched)
	}
	if _, out, err := g.Chat(t.Context(), tenant.Principal{TenantID: "acme"}, groundReq("plain")); err != nil || out.Grounding != nil || len(searched) != 1 {
		t.Errorf("plain alias: %+v %v, searches %v", out.Grounding, err, searched)
	}
}

// TestRetrievalFailure: a failed, late or refused search fails the request
// with a RetrievalError naming the reason, or, on an alias that answers
// without, is answered with no context and marked degraded. Five failures
// in a row open the alias's breaker: the next search is refused at once.
func TestRetrievalFailure(t *testing.T) {
	p := &recording{}
	var calls int
	var mu sync.Mutex
	slow := retrieverFunc(func(ctx context.Context, _ string, _ []string, _ string, _ int, _ float64) ([]Source, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		<-ctx.Done()
		return nil, ctx.Err()
	})
	g := grounded(t, p, slow, 20*time.Millisecond, 4)
	ctx := t.Context()
	acme := tenant.Principal{TenantID: "acme"}

	_, out, err := g.Chat(ctx, acme, groundReq("kb-soft"))
	if err != nil || out.Grounding == nil || out.Grounding.Degraded == "" || len(out.Grounding.Sources) != 0 {
		t.Fatalf("degraded answer: %+v, %v", out.Grounding, err)
	}
	if p.last == nil || len(p.last.Messages) != 1 {
		t.Fatalf("a degraded answer's request got context: %+v", p.last)
	}
	var re *RetrievalError
	for i := range 4 {
		_, _, err := g.Chat(ctx, acme, groundReq("kb"))
		if !errors.As(err, &re) || !strings.Contains(re.Reason, "longer than") {
			t.Fatalf("failure %d: %v; want a RetrievalError for the timeout", i, err)
		}
	}
	// The fifth failure of the alias "kb" opened its breaker.
	_, _, err = g.Chat(ctx, acme, groundReq("kb"))
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "longer than") {
		t.Fatalf("fifth failure: %v", err)
	}
	mu.Lock()
	before := calls
	mu.Unlock()
	start := time.Now()
	_, _, err = g.Chat(ctx, acme, groundReq("kb"))
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "breaker is open") || re.RetryAfter <= 0 {
		t.Fatalf("with the breaker open: %v", err)
	}
	mu.Lock()
	after := calls
	mu.Unlock()
	if after != before || time.Since(start) > time.Second {
		t.Errorf("an open breaker still searched (%d searches, then %d)", before, after)
	}

	// Without knowledge bases on the server, a grounded alias fails too.
	g = grounded(t, p, nil, time.Second, 4)
	if _, _, err := g.Chat(ctx, acme, groundReq("kb")); !errors.As(err, &re) || !strings.Contains(re.Reason, "off") {
		t.Errorf("no retriever: %v", err)
	}
}

// TestRetrievalBulkhead: searches beyond the alias's max_concurrent are
// refused at once, not queued behind a slow store.
func TestRetrievalBulkhead(t *testing.T) {
	p := &recording{}
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	g := grounded(t, p, retrieverFunc(func(ctx context.Context, _ string, _ []string, _ string, _ int, _ float64) ([]Source, error) {
		entered <- struct{}{}
		<-release
		return nil, nil
	}), time.Minute, 1)
	acme := tenant.Principal{TenantID: "acme"}
	done := make(chan error, 1)
	go func() {
		_, _, err := g.Chat(t.Context(), acme, groundReq("kb"))
		done <- err
	}()
	<-entered
	var re *RetrievalError
	if _, _, err := g.Chat(t.Context(), acme, groundReq("kb")); !errors.As(err, &re) || !strings.Contains(re.Reason, "in flight") {
		t.Errorf("second search with one slot: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("first search: %v", err)
	}
}
