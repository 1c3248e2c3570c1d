package openai

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/tenant"
)

// maxRerankDocuments is the documents one rerank call may hold (Cohere's
// limit).
const maxRerankDocuments = 1000

// rerankWire is the body of POST /v1/rerank, in Cohere's and Jina's shape.
// Unknown fields are errors.
type rerankWire struct {
	Model           *string           `json:"model"`
	Query           *string           `json:"query"`
	Documents       []json.RawMessage `json:"documents"`
	TopN            *int              `json:"top_n"`
	ReturnDocuments bool              `json:"return_documents"`
}

// decodeRerank decodes and validates a rerank request body. It returns
// whether the client asked for the documents back.
func decodeRerank(body []byte) (*llm.RerankRequest, bool, error) {
	var w rerankWire
	if err := api.Unmarshal(body, &w, true); err != nil {
		return nil, false, err
	}
	if w.Model == nil || *w.Model == "" {
		return nil, false, api.BadRequest("model", "you must provide a model parameter")
	}
	if w.Query == nil || *w.Query == "" {
		return nil, false, api.BadRequest("query", "missing required parameter: query (a non-empty string)")
	}
	switch n := len(w.Documents); {
	case w.Documents == nil:
		return nil, false, api.BadRequest("documents", "missing required parameter: documents (an array of strings or of objects with a text)")
	case n == 0:
		return nil, false, api.BadRequest("documents", "documents must not be an empty array")
	case n > maxRerankDocuments:
		return nil, false, api.BadRequest("documents", "documents may hold at most %d items, got %d", maxRerankDocuments, n)
	}
	req := &llm.RerankRequest{Model: *w.Model, Query: *w.Query, Documents: make([]string, len(w.Documents))}
	for i, raw := range w.Documents {
		text, ok := documentText(raw)
		if !ok {
			return nil, false, api.BadRequest("documents", "documents[%d] must be a string or an object with a string text", i)
		}
		req.Documents[i] = text
	}
	if w.TopN != nil {
		if *w.TopN < 1 {
			return nil, false, api.BadRequest("top_n", "top_n must be at least 1, got %d", *w.TopN)
		}
		req.TopN = *w.TopN
	}
	return req, w.ReturnDocuments, nil
}

// documentText reads one document: a string, or an object whose text is a
// string (other fields are kept by the client, not read here).
func documentText(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		return s, json.Unmarshal(raw, &s) == nil
	case '{':
		var d struct {
			Text *string `json:"text"`
		}
		if json.Unmarshal(raw, &d) != nil || d.Text == nil {
			return "", false
		}
		return *d.Text, true
	}
	return "", false
}

func (h *Handler) rerank(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	body, err := api.ReadBody(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	req, docs, err := decodeRerank(body)
	var e edge
	if err == nil {
		e, err = readEdge(r)
	}
	if err != nil {
		api.WriteError(w, err)
		return
	}
	req.Priority, req.ClientRetries = e.priority, e.retries
	api.Annotate(w, req.Model, "")
	req.RequestID = api.RequestID(w) // for the usage ledger
	ctx, cancel := h.context(r, e.timeout)
	defer cancel()
	resp, out, err := h.gw.Rerank(ctx, p, req)
	setOutcome(w, out)
	if err != nil {
		api.WriteError(w, failure(r, err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(encodeRerank(req, resp, out, docs, req.RequestID))
}

// encodeRerank writes the rerank response in Cohere's and Jina's shape:
// {"id","results":[{"index","relevance_score","document"?:{"text"}}],
// "model","usage":{"total_tokens"}}.
func encodeRerank(req *llm.RerankRequest, resp *llm.RerankResponse, out gateway.Outcome, docs bool, id string) []byte {
	model := resp.Model
	if model == "" && out.Target != nil {
		model = out.Target.Model
	}
	if model == "" {
		model = req.Model
	}
	b := make([]byte, 0, 128+len(resp.Results)*48)
	b = append(b, `{"id":`...)
	b = appendJSON(b, "rerank-"+id)
	b = append(b, `,"results":[`...)
	for i, res := range resp.Results {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(res.Index), 10)
		b = append(b, `,"relevance_score":`...)
		b = strconv.AppendFloat(b, res.Score, 'g', -1, 64)
		if docs && res.Index >= 0 && res.Index < len(req.Documents) {
			b = append(b, `,"document":{"text":`...)
			b = appendJSON(b, req.Documents[res.Index])
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = appendJSON(b, model)
	total := resp.Usage.TotalTokens
	if total == 0 {
		total = resp.Usage.PromptTokens
	}
	b = append(b, `,"usage":{"total_tokens":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, "}}"...)
	return b
}

// appendJSON appends s as a JSON string.
func appendJSON(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}
