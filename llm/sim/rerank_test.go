package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

const rerankModel = "rerank"

func rerankSim(seed int64, m config.SimModel) *Sim {
	m.Kind = config.SimKindRerank
	return New("testsim", seed, map[string]config.SimModel{
		rerankModel: m,
		chatModel:   {},
		embedModel:  {Kind: config.SimKindEmbedding},
	})
}

var rerankDocs = []string{
	"Bake the bread at 200 degrees for forty minutes.",
	"A circuit breaker opens after repeated failures and stops calls to the failing service.",
	"The breaker in the kitchen tripped.",
	"What is the capital of France?",
	"Circuit breakers, retries and fallbacks keep a gateway up when a provider fails.",
	"",
}

func TestRerankOrdering(t *testing.T) {
	s := rerankSim(1, config.SimModel{})
	req := &llm.RerankRequest{Model: rerankModel, Query: "How does a circuit breaker handle failures?", Documents: rerankDocs}
	resp, err := s.Rerank(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != rerankModel || len(resp.Results) != len(rerankDocs) || resp.Usage.PromptTokens == 0 || resp.Usage.TotalTokens != resp.Usage.PromptTokens {
		t.Fatalf("response %+v", resp)
	}
	order := make([]int, len(resp.Results))
	for i, r := range resp.Results {
		order[i] = r.Index
		if r.Score < 0 || r.Score >= 1 {
			t.Errorf("result %d: score %v outside [0, 1)", i, r.Score)
		}
		if i > 0 && r.Score > resp.Results[i-1].Score {
			t.Errorf("results not best first: %v", resp.Results)
		}
	}
	// The two documents about circuit breakers come first; those sharing
	// no word with the query score 0, in index order, last.
	if fmt.Sprint(order[:3]) != "[1 4 2]" || fmt.Sprint(order[3:]) != "[0 3 5]" {
		t.Errorf("order %v (%v)", order, resp.Results)
	}
	for _, r := range resp.Results[3:] {
		if r.Score != 0 {
			t.Errorf("document %d scores %v, want 0", r.Index, r.Score)
		}
	}

	// Deterministic: the same request, another seed, another simulator.
	again, err := rerankSim(99, config.SimModel{}).Rerank(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(again.Results) != fmt.Sprint(resp.Results) || again.Usage != resp.Usage {
		t.Errorf("not deterministic: %v then %v", resp.Results, again.Results)
	}

	top := *req
	top.TopN = 2
	cut, err := s.Rerank(t.Context(), &top)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(cut.Results) != fmt.Sprint(resp.Results[:2]) {
		t.Errorf("top 2 = %v, want %v", cut.Results, resp.Results[:2])
	}
}

func TestRerankKinds(t *testing.T) {
	s := rerankSim(1, config.SimModel{})
	_, err := s.Rerank(t.Context(), &llm.RerankRequest{Model: chatModel, Query: "q", Documents: []string{"d"}})
	if e := wantKind(t, err, llm.KindBadRequest); e.Code != "model_not_supported" {
		t.Errorf("code %q", e.Code)
	}
	_, err = s.Chat(t.Context(), chatReq("hi"))
	if err != nil {
		t.Fatal(err)
	}
	r := chatReq("hi")
	r.Model = rerankModel
	_, err = s.Chat(t.Context(), r)
	if e := wantKind(t, err, llm.KindBadRequest); e.Code != "model_not_supported" {
		t.Errorf("code %q", e.Code)
	}
	_, err = s.Embed(t.Context(), &llm.EmbedRequest{Model: rerankModel, Input: []string{"x"}})
	wantKind(t, err, llm.KindBadRequest)
	_, err = s.Rerank(t.Context(), &llm.RerankRequest{Model: "nope", Query: "q", Documents: []string{"d"}})
	wantKind(t, err, llm.KindNotFound)
	_, err = s.Rerank(t.Context(), &llm.RerankRequest{Model: rerankModel, Documents: []string{"d"}})
	wantKind(t, err, llm.KindBadRequest)
}

func TestRerankFaultsAndLimits(t *testing.T) {
	s := rerankSim(1, config.SimModel{Faults: config.Faults{ErrorRates: map[int]float64{503: 1}}})
	_, err := s.Rerank(t.Context(), &llm.RerankRequest{Model: rerankModel, Query: "q", Documents: []string{"d"}})
	wantKind(t, err, llm.KindOverloaded)

	s = rerankSim(1, config.SimModel{RPM: 1})
	req := &llm.RerankRequest{Model: rerankModel, Query: "q", Documents: []string{"d"}}
	if _, err := s.Rerank(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	_, err = s.Rerank(t.Context(), req)
	if e := wantKind(t, err, llm.KindRateLimited); e.RetryAfter <= 0 {
		t.Errorf("retry after %s", e.RetryAfter)
	}

	s = rerankSim(1, config.SimModel{ContextWindow: 4})
	_, err = s.Rerank(t.Context(), &llm.RerankRequest{Model: rerankModel, Query: "a long query", Documents: []string{"ok", "a document far too long for the window"}})
	if e := wantKind(t, err, llm.KindContextLength); e.Param != "documents[1]" {
		t.Errorf("param %q", e.Param)
	}
}

func TestHandlerRerank(t *testing.T) {
	s := rerankSim(1, config.SimModel{})
	srv := newServer(t, s)
	resp, body := post(t, srv.Client(), srv.URL+"/v1/rerank",
		`{"model":"rerank","query":"circuit breaker failures","documents":["bread",{"text":"a circuit breaker stops failures"}],"top_n":1,"return_documents":true}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var got struct {
		ID      string `json:"id"`
		Results []struct {
			Index    int     `json:"index"`
			Score    float64 `json:"relevance_score"`
			Document *struct {
				Text string `json:"text"`
			} `json:"document"`
		} `json:"results"`
		Model string    `json:"model"`
		Usage llm.Usage `json:"usage"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if got.ID == "" || got.Model != rerankModel || len(got.Results) != 1 || got.Results[0].Index != 1 ||
		got.Results[0].Document == nil || got.Results[0].Document.Text != "a circuit breaker stops failures" || got.Usage.TotalTokens == 0 {
		t.Errorf("response %s", body)
	}
	inproc, err := s.Rerank(t.Context(), &llm.RerankRequest{Model: rerankModel, Query: "circuit breaker failures",
		Documents: []string{"bread", "a circuit breaker stops failures"}, TopN: 1})
	if err != nil {
		t.Fatal(err)
	}
	if inproc.Results[0].Score != got.Results[0].Score || inproc.Usage.TotalTokens != got.Usage.TotalTokens {
		t.Errorf("in-process %+v, HTTP %s", inproc, body)
	}

	for _, c := range []struct {
		name, body, param string
	}{
		{"no query", `{"model":"rerank","documents":["a"]}`, "query"},
		{"no documents", `{"model":"rerank","query":"q"}`, "documents"},
		{"bad document", `{"model":"rerank","query":"q","documents":[1]}`, "documents[0]"},
		{"top_n zero", `{"model":"rerank","query":"q","documents":["a"],"top_n":0}`, "top_n"},
		{"no model", `{"query":"q","documents":["a"]}`, "model"},
		{"chat model", `{"model":"chat","query":"q","documents":["a"]}`, "model"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := post(t, srv.Client(), srv.URL+"/v1/rerank", c.body)
			if _, param := wantAPIError(t, resp, body, http.StatusBadRequest); param != c.param {
				t.Errorf("param %q, want %q: %s", param, c.param, body)
			}
		})
	}
	resp, body = post(t, srv.Client(), srv.URL+"/v1/rerank", `{"model":"nope","query":"q","documents":["a"]}`)
	wantAPIError(t, resp, body, http.StatusNotFound)
}
