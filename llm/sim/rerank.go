package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"github.com/bulwark-ai/bulwark/llm"
)

// A rerank model scores each document by a lexical relevance to the query,
// BM25's term saturation without its corpus statistics, so that a score
// depends on the query and the document alone (as a cross-encoder's
// does): for every distinct lowercased query word, its count in the
// document saturated as tf/(tf + k1·(1 − b + b·len/avgLen)), weighted
// (short and common words count less) and averaged over the query's
// words. Scores are in [0, 1): 0 for a document sharing no word with the
// query, near 1 for one repeating every query word.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
	// bm25AvgLen is the document length, in words, taken as average.
	bm25AvgLen = 64.0
	// maxRerankDocuments is the documents one rerank call may hold.
	maxRerankDocuments = 1000
	// stopWeight is the weight of a word in stopWords or of at most two
	// letters.
	stopWeight = 0.2
)

// stopWords are common English words, which say little about relevance.
var stopWords = map[string]bool{
	"the": true, "and": true, "for": true, "with": true, "what": true, "how": true, "why": true,
	"who": true, "are": true, "was": true, "were": true, "this": true, "that": true, "from": true,
	"which": true, "when": true, "where": true, "does": true, "into": true, "about": true, "has": true,
	"have": true, "not": true, "but": true, "its": true, "can": true, "you": true, "your": true,
}

// lexWords returns the lowercased words (letters and digits) of s.
func lexWords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// queryWeight is how much a query word counts.
func queryWeight(w string) float64 {
	if len(w) <= 2 || stopWords[w] {
		return stopWeight
	}
	return 1
}

// relevance scores doc against the query's distinct words and their
// weights (see above).
func relevance(query []string, weights []float64, doc string) float64 {
	words := lexWords(doc)
	if len(query) == 0 || len(words) == 0 {
		return 0
	}
	tf := make(map[string]int, len(words))
	for _, w := range words {
		tf[w]++
	}
	norm := bm25K1 * (1 - bm25B + bm25B*float64(len(words))/bm25AvgLen)
	var sum, total float64
	for i, q := range query {
		total += weights[i]
		if n := tf[q]; n > 0 {
			sum += weights[i] * float64(n) / (float64(n) + norm)
		}
	}
	return sum / total
}

// rerankAll scores every document against query, best first, cut to topN
// when it is set.
func rerankAll(query string, docs []string, topN int) []llm.RerankResult {
	var terms []string
	var weights []float64
	seen := map[string]bool{}
	for _, w := range lexWords(query) {
		if !seen[w] {
			seen[w] = true
			terms = append(terms, w)
			weights = append(weights, queryWeight(w))
		}
	}
	out := make([]llm.RerankResult, len(docs))
	for i, d := range docs {
		out[i] = llm.RerankResult{Index: i, Score: relevance(terms, weights, d)}
	}
	llm.SortRerank(out)
	if topN > 0 && topN < len(out) {
		out = out[:topN]
	}
	return out
}

// Rerank scores documents in-process, with the latencies, limits and
// faults of the HTTP API (the mid-stream faults act as on a plain answer).
func (s *Sim) Rerank(ctx context.Context, req *llm.RerankRequest) (*llm.RerankResponse, error) {
	if e := checkRerank(req); e != nil {
		e.Provider, e.Model = s.name, req.Model
		return nil, e
	}
	c, e := s.rerankCall(req)
	if e != nil {
		return nil, e
	}
	if e := s.start(ctx, c); e != nil {
		return nil, e
	}
	defer c.release()
	if e := s.awaitAnswer(ctx, c); e != nil {
		return nil, e
	}
	return &llm.RerankResponse{Results: rerankAll(req.Query, req.Documents, req.TopN), Model: c.m.name, Usage: c.usage()}, nil
}

var _ llm.Reranker = (*Sim)(nil)

// lookupRerank finds the rerank model a request names.
func (s *Sim) lookupRerank(name string) (*model, *llm.Error) {
	m, ok := s.models[name]
	if !ok {
		return s.lookup(name, false) // its not-found error
	}
	if !m.rerank {
		kind := "a chat"
		if m.embed {
			kind = "an embedding"
		}
		return nil, &llm.Error{
			Kind: llm.KindBadRequest, Status: http.StatusBadRequest, Type: typeInvalidRequest,
			Param: "model", Code: "model_not_supported", Provider: s.name, Model: name,
			Message: fmt.Sprintf("The model `%s` is %s model and does not support reranking.", name, kind),
		}
	}
	return m, nil
}

// rerankCall prepares a rerank call of a validated request. Its prompt is
// the query and document of every pair the model reads; each pair must fit
// the context window.
func (s *Sim) rerankCall(req *llm.RerankRequest) (*call, *llm.Error) {
	m, e := s.lookupRerank(req.Model)
	if e != nil {
		return nil, e
	}
	c := s.arrive(m)
	q := textTokens(req.Query)
	for i, d := range req.Documents {
		t := q + textTokens(d)
		if m.window > 0 && t > m.window {
			return nil, &llm.Error{
				Kind: llm.KindContextLength, Status: http.StatusBadRequest, Type: typeInvalidRequest,
				Param: fmt.Sprintf("documents[%d]", i), Code: codeContextLength,
				Message: fmt.Sprintf("This model's maximum context length is %d tokens, however the query and document %d hold %d tokens. Please shorten them.",
					m.window, i, t),
				Provider: s.name, Model: m.name,
			}
		}
		c.prompt += t
	}
	c.charge = c.prompt
	return c, nil
}

// checkRerank validates what both transports must.
func checkRerank(req *llm.RerankRequest) *llm.Error {
	switch {
	case req.Model == "":
		return invalid("model", "missing_required_parameter", "you must provide a model parameter")
	case req.Query == "":
		return invalid("query", "missing_required_parameter", "Missing required parameter: 'query'.")
	case len(req.Documents) == 0:
		return invalid("documents", "empty_array", "Invalid 'documents': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	case len(req.Documents) > maxRerankDocuments:
		return invalid("documents", "array_above_max_length", "Invalid 'documents': array too long. Expected an array with maximum length %d, but got an array with length %d instead.",
			maxRerankDocuments, len(req.Documents))
	case req.TopN < 0:
		return invalid("top_n", "integer_below_min_value", "Invalid 'top_n': integer below minimum value. Expected a value >= 1, but got %d instead.", req.TopN)
	}
	return nil
}

// rerankWire is the body of POST /v1/rerank (Cohere's and Jina's shape).
// A document is a string or an object with a "text".
type rerankWire struct {
	Model           string            `json:"model"`
	Query           string            `json:"query"`
	Documents       []json.RawMessage `json:"documents"`
	TopN            *int              `json:"top_n"`
	ReturnDocuments bool              `json:"return_documents"`
}

// decodeRerank decodes and validates a rerank request body. It returns
// whether the client asked for the documents back.
func decodeRerank(body []byte) (*llm.RerankRequest, bool, *llm.Error) {
	var w rerankWire
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, false, jsonError(err)
	}
	req := &llm.RerankRequest{Model: w.Model, Query: w.Query, Documents: make([]string, len(w.Documents))}
	for i, raw := range w.Documents {
		raw = bytes.TrimSpace(raw)
		var doc struct {
			Text *string `json:"text"`
		}
		switch {
		case len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &req.Documents[i]) == nil:
		case len(raw) > 0 && raw[0] == '{' && json.Unmarshal(raw, &doc) == nil && doc.Text != nil:
			req.Documents[i] = *doc.Text
		default:
			return nil, false, invalid(fmt.Sprintf("documents[%d]", i), "invalid_type",
				"Invalid 'documents[%d]': expected a string or an object with a text.", i)
		}
	}
	if w.TopN != nil {
		if *w.TopN < 1 {
			return nil, false, invalid("top_n", "integer_below_min_value",
				"Invalid 'top_n': integer below minimum value. Expected a value >= 1, but got %d instead.", *w.TopN)
		}
		req.TopN = *w.TopN
	}
	if e := checkRerank(req); e != nil {
		return nil, false, e
	}
	return req, w.ReturnDocuments, nil
}

// serveRerank answers POST /v1/rerank:
// {"id","results":[{"index","relevance_score","document"?:{"text"}}],"model","usage"}.
func (s *Sim) serveRerank(w http.ResponseWriter, r *http.Request) {
	body, e := readBody(w, r)
	if e != nil {
		writeError(w, e, nil)
		return
	}
	req, docs, e := decodeRerank(body)
	if e != nil {
		writeError(w, e, nil)
		return
	}
	c, e := s.rerankCall(req)
	if e != nil {
		writeError(w, e, nil)
		return
	}
	if !s.startHTTP(w, r, c) {
		return
	}
	defer c.release()
	if !waitHTTP(r, c.answerDelay()) {
		return
	}
	results := rerankAll(req.Query, req.Documents, req.TopN)
	b := make([]byte, 0, 128+len(results)*48)
	b = append(b, `{"id":"rerank-`...)
	b = appendHex64(b, c.seq)
	b = append(b, `","results":[`...)
	for i, res := range results {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(res.Index), 10)
		b = append(b, `,"relevance_score":`...)
		b = strconv.AppendFloat(b, res.Score, 'g', -1, 64)
		if docs {
			b = append(b, `,"document":{"text":`...)
			text, _ := json.Marshal(req.Documents[res.Index]) // a string always marshals
			b = append(b, text...)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = append(b, c.m.nameJSON...)
	u := c.usage()
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
	b = append(b, "}}"...)
	answerHTTP(w, c, b)
}
