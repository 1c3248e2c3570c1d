package app

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm/sim"
)

// rerankConfig serves the alias "rerank" from an in-process sim's rerank
// model whose every call fails, with the fallback "rerank-http" on a
// second sim reached over HTTP through the openai provider (its
// /v1/rerank); the chat alias "chat", whose sim model refuses to rerank;
// and "words" on the built-in embedding model, which has no rerank.
func rerankConfig(t *testing.T) string {
	t.Helper()
	upstream := sim.New("upstream", 1, map[string]config.SimModel{"bge-reranker": {Kind: config.SimKindRerank}})
	srv := httptest.NewServer(upstream.Handler())
	t.Cleanup(srv.Close)
	return fmt.Sprintf(`
log: {level: warn}
providers:
  local:
    type: sim
    models:
      broken-rerank: {kind: rerank, faults: {error_rates: {"503": 1}}}
      fast-chat: {output_tokens: {min: 5, max: 5}}
  tei: {type: openai, base_url: %q}
  glove: {type: local}
models:
  - name: rerank
    targets: [{provider: local, model: broken-rerank}]
    fallbacks: [rerank-http]
    retry: {backoff: {base: 1ms, max: 2ms}}
  - name: rerank-http
    targets: [{provider: tei, model: bge-reranker}]
  - name: chat
    targets: [{provider: local, model: fast-chat}]
  - name: words
    targets: [{provider: glove, model: bulwark-glove-sif-99d}]
`, srv.URL+"/v1")
}

func TestRerankServedThroughTheFallback(t *testing.T) {
	ts := start(t, rerankConfig(t))
	resp, body := ts.do(t, "POST", "/v1/rerank",
		`{"model":"rerank","query":"How do retries and circuit breakers work?","documents":["Bake bread at 200 degrees.",{"text":"Retries and circuit breakers keep a gateway up."},"Circuit breakers tripped."],"top_n":2,"return_documents":true}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Bulwark-Target"); got != "tei/bge-reranker" {
		t.Errorf("answered by %q", got)
	}
	var got struct {
		ID      string `json:"id"`
		Results []struct {
			Index    int     `json:"index"`
			Score    float64 `json:"relevance_score"`
			Document struct {
				Text string `json:"text"`
			} `json:"document"`
		} `json:"results"`
		Model string `json:"model"`
		Usage struct {
			TotalTokens int `json:"total_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if got.ID == "" || got.Model != "bge-reranker" || got.Usage.TotalTokens == 0 || len(got.Results) != 2 ||
		got.Results[0].Index != 1 || got.Results[0].Document.Text != "Retries and circuit breakers keep a gateway up." ||
		got.Results[1].Index != 2 || !(got.Results[0].Score > got.Results[1].Score) {
		t.Errorf("response %s", body)
	}
}

func TestRerankRefusals(t *testing.T) {
	ts := start(t, rerankConfig(t))
	for _, c := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"missing query", `{"model":"rerank","documents":["a"]}`, 400, ""},
		{"empty documents", `{"model":"rerank","query":"q","documents":[]}`, 400, ""},
		{"top_n below 1", `{"model":"rerank","query":"q","documents":["a"],"top_n":0}`, 400, ""},
		{"unknown model", `{"model":"nope","query":"q","documents":["a"]}`, 404, "model_not_found"},
		// A sim reranks, but not with a chat model: it refuses the call.
		{"chat model", `{"model":"chat","query":"q","documents":["a"]}`, 400, "model_not_supported"},
		// The built-in embedding model has no rerank at all: Bulwark
		// refuses before any attempt.
		{"provider cannot rerank", `{"model":"words","query":"q","documents":["a"]}`, 400, "unsupported_operation"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := ts.do(t, "POST", "/v1/rerank", c.body)
			mustOpenAIError(t, resp, body, c.status, c.code)
		})
	}
}
