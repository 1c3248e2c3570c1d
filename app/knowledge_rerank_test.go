package app

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
)

const rerankKB = `
log: {level: warn}
providers:
  lab:
    type: sim
    models:
      reranker: {kind: rerank}
      down-reranker: {kind: rerank, faults: {error_rates: {"503": 1}}}
models:
  - name: rerank
    targets: [{provider: lab, model: reranker}]
  - name: rerank-down
    targets: [{provider: lab, model: down-reranker}]
    retry: {max_attempts: 1}
knowledge: {rerank_model: %s}
`

type searchAnswer struct {
	Data []struct {
		Filename string  `json:"filename"`
		Score    float64 `json:"score"`
	} `json:"data"`
	Degraded bool   `json:"degraded"`
	Reason   string `json:"degraded_reason"`
}

// storeWithHandbook creates a store holding the handbook and returns its id.
func storeWithHandbook(t *testing.T, ts *testServer) string {
	t.Helper()
	c := sdk(ts)
	_, body := ts.do(t, "POST", "/v1/vector_stores", `{"name":"h"}`)
	var st struct{ ID string }
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	for i, text := range []string{handbook, "Expense reports are due by the fifth of each month.", "Pages wake the on-call engineer at night."} {
		if _, err := c.VectorStores.Files.UploadAndPoll(t.Context(), st.ID, fileParams(text, i), 20); err != nil {
			t.Fatal(err)
		}
	}
	return st.ID
}

func (ts *testServer) search(t *testing.T, store, body string) (int, searchAnswer) {
	t.Helper()
	resp, b := ts.do(t, "POST", "/v1/vector_stores/"+store+"/search", body)
	var a searchAnswer
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, a
}

// Issue 15 item 7: with a rerank model configured, a search's results
// are ordered and scored by it (ranker "none" keeps the fused order and
// scores); a rerank model that fails is an error, or the fused order
// flagged degraded when the request allows it.
func TestSearchReranks(t *testing.T) {
	ts := start(t, strings.Replace(rerankKB, "%s", "rerank", 1))
	store := storeWithHandbook(t, ts)
	q := `{"query":"who answers pages at night","max_num_results":5`
	status, reranked := ts.search(t, store, q+`}`)
	if status != 200 || len(reranked.Data) == 0 {
		t.Fatalf("search: %d %+v", status, reranked)
	}
	_, fused := ts.search(t, store, q+`,"ranking_options":{"ranker":"none"}}`)
	scores := func(a searchAnswer) []float64 {
		var s []float64
		for _, d := range a.Data {
			s = append(s, d.Score)
		}
		return s
	}
	rs := scores(reranked)
	if !slices.IsSortedFunc(rs, func(a, b float64) int { return cmp.Compare(b, a) }) || slices.Equal(rs, scores(fused)) {
		t.Errorf("reranked scores %v, fused %v: want the rerank model's, best first", rs, scores(fused))
	}

	down := start(t, strings.Replace(rerankKB, "%s", "rerank-down", 1))
	store = storeWithHandbook(t, down)
	if status, a := down.search(t, store, q+`}`); status == 200 {
		t.Errorf("a failed rerank answered 200: %+v", a)
	}
	status, a := down.search(t, store, q+`,"allow_degraded":true}`)
	if status != 200 || !a.Degraded || !strings.Contains(a.Reason, "rerank") || len(a.Data) == 0 {
		t.Errorf("a failed rerank with allow_degraded: %d %+v", status, a)
	}
}

// fileParams is an upload of text as a Markdown file.
func fileParams(text string, i int) openai.FileNewParams {
	return openai.FileNewParams{File: openai.File(strings.NewReader(text), fmt.Sprintf("doc%d.md", i), "text/markdown"), Purpose: openai.FilePurposeAssistants}
}
