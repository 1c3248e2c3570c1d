package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/bulwark-ai/bulwark/llm"
)

var _ llm.Reranker = (*Client)(nil)

// Rerank scores documents against a query: POST {base}/rerank with the
// body Cohere, Jina and vLLM take ({"model","query","documents","top_n"}).
// It reads their answer ({"results":[{"index","relevance_score"}],
// "usage"?}) and TEI's (a bare array of {"index","score"}). Results are
// returned best first, at most TopN of them when TopN is set.
func (c *Client) Rerank(ctx context.Context, req *llm.RerankRequest) (*llm.RerankResponse, error) {
	body, err := rerankBody(req)
	if err != nil {
		return nil, c.errorf(llm.KindBadRequest, req.Model, err, "%v", err)
	}
	resp, err := c.post(ctx, "/rerank", req.Model, body, false)
	if err != nil {
		return nil, err
	}
	b, err := c.errs().ReadBody(ctx, resp, req.Model, maxResponseBytes)
	if err != nil {
		return nil, err
	}
	out, err := decodeRerank(b, len(req.Documents))
	if err != nil {
		var w struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(b, &w) == nil && isPresent(w.Error) {
			return nil, c.eventError(b, req.Model)
		}
		return nil, c.errorf(llm.KindServer, req.Model, err, "rerank response: %v", err)
	}
	if req.TopN > 0 && len(out.Results) > req.TopN {
		out.Results = out.Results[:req.TopN]
	}
	return out, nil
}

// rerankBody writes the request body of a rerank call.
func rerankBody(req *llm.RerankRequest) ([]byte, error) {
	w := struct {
		Model     string   `json:"model"`
		Query     string   `json:"query"`
		Documents []string `json:"documents"`
		TopN      int      `json:"top_n,omitempty"`
	}{req.Model, req.Query, req.Documents, req.TopN}
	if w.Documents == nil {
		w.Documents = []string{}
	}
	return json.Marshal(w)
}

// wireRerankResult is one result in any of the shapes read: Cohere's, Jina's
// and vLLM's relevance_score, TEI's score.
type wireRerankResult struct {
	Index          *int     `json:"index"`
	RelevanceScore *float64 `json:"relevance_score"`
	Score          *float64 `json:"score"`
}

type wireRerankResponse struct {
	Results []wireRerankResult `json:"results"`
	Model   string             `json:"model"`
	Usage   *wireUsage         `json:"usage"`
}

// decodeRerank parses a rerank response body for a request of docs
// documents: an object with results, or a bare array of results (TEI).
func decodeRerank(b []byte, docs int) (*llm.RerankResponse, error) {
	var w wireRerankResponse
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		if err := json.Unmarshal(b, &w.Results); err != nil {
			return nil, err
		}
	} else {
		if err := json.Unmarshal(b, &w); err != nil {
			return nil, err
		}
		if w.Results == nil {
			return nil, errors.New("no results")
		}
	}
	out := &llm.RerankResponse{Results: make([]llm.RerankResult, len(w.Results)), Model: w.Model}
	if w.Usage != nil {
		out.Usage = w.Usage.usage()
		if out.Usage.PromptTokens == 0 { // a rerank reads, it writes nothing
			out.Usage.PromptTokens = out.Usage.TotalTokens
		}
	}
	seen := make(map[int]bool, len(w.Results))
	for i, r := range w.Results {
		if r.Index == nil {
			return nil, fmt.Errorf("results[%d]: no index", i)
		}
		at := *r.Index
		if at < 0 || (docs > 0 && at >= docs) || seen[at] {
			return nil, fmt.Errorf("results[%d]: index %d out of range or repeated", i, at)
		}
		seen[at] = true
		s := r.RelevanceScore
		if s == nil {
			s = r.Score
		}
		if s == nil || math.IsNaN(*s) {
			return nil, fmt.Errorf("results[%d]: no score", i)
		}
		out.Results[i] = llm.RerankResult{Index: at, Score: *s}
	}
	llm.SortRerank(out.Results)
	return out, nil
}
