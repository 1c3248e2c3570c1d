package openai

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/sim"
)

func TestRerank(t *testing.T) {
	docs := []string{"a", "b", "c"}
	for _, c := range []struct {
		name, body string
		topN       int
		want       string
		usage      llm.Usage
		model      string
	}{
		{"cohere shape", `{"id":"x","results":[{"index":2,"relevance_score":0.9},{"index":0,"relevance_score":0.5},{"index":1,"relevance_score":0.1}],"meta":{"billed_units":{"search_units":1}}}`,
			0, "[{2 0.9} {0 0.5} {1 0.1}]", llm.Usage{}, ""},
		{"jina shape, unordered, with usage", `{"model":"jina-reranker-v2","results":[{"index":1,"relevance_score":0.2,"document":{"text":"b"}},{"index":0,"relevance_score":0.7,"document":{"text":"a"}}],"usage":{"total_tokens":12}}`,
			0, "[{0 0.7} {1 0.2}]", llm.Usage{PromptTokens: 12, TotalTokens: 12}, "jina-reranker-v2"},
		{"tei bare array", `[{"index":1,"score":0.99},{"index":2,"score":0.01},{"index":0,"score":0.5}]`,
			0, "[{1 0.99} {0 0.5} {2 0.01}]", llm.Usage{}, ""},
		{"an answer longer than top_n is cut", `[{"index":1,"score":0.99},{"index":2,"score":0.01},{"index":0,"score":0.5}]`,
			2, "[{1 0.99} {0 0.5}]", llm.Usage{}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := newUpstream(t, serveBytes(200, "application/json", []byte(c.body)))
			got, err := u.client(t, func(o *Options) { o.Headers = map[string]string{"X-Extra": "1"} }).
				Rerank(t.Context(), &llm.RerankRequest{Model: "rr", Query: "q?", Documents: docs, TopN: c.topN})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got.Results) != c.want || got.Usage != c.usage || got.Model != c.model {
				t.Errorf("got %v %+v %q, want %s %+v %q", got.Results, got.Usage, got.Model, c.want, c.usage, c.model)
			}
			r := u.last(t)
			if r.Method != http.MethodPost || r.Path != "/v1/rerank" {
				t.Errorf("%s %s", r.Method, r.Path)
			}
			if r.Header.Get("Authorization") != "Bearer "+testKey || r.Header.Get("X-Extra") != "1" || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", r.Header)
			}
			want := `{"model":"rr","query":"q?","documents":["a","b","c"]}`
			if c.topN > 0 {
				want = fmt.Sprintf(`{"model":"rr","query":"q?","documents":["a","b","c"],"top_n":%d}`, c.topN)
			}
			if string(r.Body) != want {
				t.Errorf("body %s, want %s", r.Body, want)
			}
		})
	}
}

func TestRerankErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		header map[string]string
		body   string
		kind   llm.Kind
	}{
		{"429", 429, map[string]string{"Retry-After": "2"}, `{"error":{"message":"slow down"}}`, llm.KindRateLimited},
		{"503", 503, nil, `{"error":"overloaded"}`, llm.KindOverloaded},
		{"500", 500, nil, `oops`, llm.KindServer},
		{"400 tei", 400, nil, `{"error":"batch size 2000 > maximum allowed batch size 1000","error_type":"Validation"}`, llm.KindBadRequest},
		{"401", 401, nil, `{"message":"invalid api token"}`, llm.KindAuth},
		{"404", 404, nil, `{"detail":"Not Found"}`, llm.KindNotFound},
		{"error in a 200", 200, nil, `{"error":{"message":"model not found","code":"model_not_found"}}`, llm.KindNotFound},
		{"no results", 200, nil, `{"model":"rr"}`, llm.KindServer},
		{"index out of range", 200, nil, `{"results":[{"index":7,"relevance_score":0.5}]}`, llm.KindServer},
		{"repeated index", 200, nil, `[{"index":0,"score":0.5},{"index":0,"score":0.4}]`, llm.KindServer},
		{"no score", 200, nil, `{"results":[{"index":0}]}`, llm.KindServer},
		{"not json", 200, nil, `<html>`, llm.KindServer},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range c.header {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(c.status)
				_, _ = w.Write([]byte(c.body))
			})
			_, err := u.client(t).Rerank(t.Context(), &llm.RerankRequest{Model: "rr", Query: "q", Documents: []string{"a", "b"}})
			e := llmError(t, err, "rr")
			if e.Kind != c.kind {
				t.Errorf("kind %s, want %s (%v)", e.Kind, c.kind, err)
			}
			if c.status == 429 && e.RetryAfter != 2*time.Second {
				t.Errorf("retry after %s", e.RetryAfter)
			}
		})
	}
}

func TestRerankTimeout(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := u.client(t).Rerank(ctx, &llm.RerankRequest{Model: "rr", Query: "q", Documents: []string{"a"}})
	if e := llmError(t, err, "rr"); e.Kind != llm.KindTimeout {
		t.Errorf("kind %s, want timeout (%v)", e.Kind, err)
	}
}

// TestRerankSim reranks through the simulator's HTTP API: the client reads
// its answer, and it puts the relevant document first.
func TestRerankSim(t *testing.T) {
	s := sim.New("sim", 1, map[string]config.SimModel{"rr": {Kind: config.SimKindRerank}})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	c, err := New(Options{Name: "up", BaseURL: srv.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Rerank(t.Context(), &llm.RerankRequest{Model: "rr", Query: "circuit breaker",
		Documents: []string{"a recipe for bread", "the circuit breaker opens after failures", "breaker"}, TopN: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Results) != 2 || got.Results[0].Index != 1 || got.Results[1].Index != 2 || got.Model != "rr" || got.Usage.TotalTokens == 0 {
		t.Errorf("got %+v", got)
	}
}
