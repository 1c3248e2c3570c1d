package openai

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/tenant"
)

// searchTimeout bounds a search whose client set no deadline.
const searchTimeout = 10 * time.Second

type searchWire struct {
	Query      json.RawMessage `json:"query"`
	MaxResults int             `json:"max_num_results"`
	Filters    json.RawMessage `json:"filters"`
	Ranking    *struct {
		Ranker         string  `json:"ranker"`
		ScoreThreshold float64 `json:"score_threshold"`
	} `json:"ranking_options"`
	RewriteQuery bool `json:"rewrite_query"`
	// AllowDegraded is Bulwark's: answer from the keyword index alone
	// when the query cannot be embedded in time.
	AllowDegraded bool `json:"allow_degraded"`
}

type resultWire struct {
	FileID     string         `json:"file_id"`
	Filename   string         `json:"filename"`
	Score      float64        `json:"score"`
	Attributes map[string]any `json:"attributes"`
	Content    []contentWire  `json:"content"`
	// Page and Section say where in the file the chunk is (Bulwark's, for
	// citations).
	Page    int    `json:"page,omitempty"`
	Section string `json:"section,omitempty"`
}

type contentWire struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type searchPageWire struct {
	Object      string       `json:"object"`
	SearchQuery []string     `json:"search_query"`
	Data        []resultWire `json:"data"`
	HasMore     bool         `json:"has_more"`
	NextPage    *string      `json:"next_page"`
	Degraded    bool         `json:"degraded,omitempty"`
	Reason      string       `json:"degraded_reason,omitempty"`
}

func (k *Knowledge) search(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	var req searchWire
	if err := api.DecodeJSON(r, &req); err != nil {
		api.WriteError(w, err)
		return
	}
	queries, err := searchQueries(req.Query)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	if req.RewriteQuery {
		api.WriteError(w, api.BadRequest("rewrite_query", "rewrite_query is not supported; send the query to search for"))
		return
	}
	if req.MaxResults < 0 || req.MaxResults > 50 {
		api.WriteError(w, api.BadRequest("max_num_results", "max_num_results must be from 1 to 50, got %d", req.MaxResults))
		return
	}
	filter, err := rag.ParseFilter(req.Filters)
	if err != nil {
		api.WriteError(w, api.BadRequest("filters", "%s", err.Error()))
		return
	}
	q := rag.Query{Text: strings.Join(queries, "\n"), Max: req.MaxResults, Filter: filter, AllowDegraded: req.AllowDegraded, Rerank: true}
	if o := req.Ranking; o != nil {
		switch o.Ranker {
		case "", "auto", "default-2024-11-15":
		case "none":
			q.Rerank = false
		default:
			api.WriteError(w, api.BadRequest("ranking_options.ranker", "ranker must be auto, default-2024-11-15 or none, got %q", o.Ranker))
			return
		}
		if o.ScoreThreshold < 0 || o.ScoreThreshold > 1 {
			api.WriteError(w, api.BadRequest("ranking_options.score_threshold", "score_threshold must be from 0 to 1"))
			return
		}
		q.ScoreThreshold = o.ScoreThreshold
	}
	ctx, cancel := context.WithTimeout(r.Context(), searchTimeout)
	defer cancel()
	res, err := k.kb.Search(ctx, p.TenantID, r.PathValue("id"), q)
	if err != nil {
		api.WriteError(w, kbError(err, "vector store"))
		return
	}
	out := searchPageWire{Object: "vector_store.search_results.page", SearchQuery: queries, Data: make([]resultWire, len(res.Results)),
		Degraded: res.Degraded, Reason: res.Reason}
	for i, h := range res.Results {
		attrs := h.Attributes
		if attrs == nil {
			attrs = map[string]any{}
		}
		out.Data[i] = resultWire{FileID: h.FileID, Filename: h.Filename, Score: h.Score, Attributes: attrs,
			Content: []contentWire{{Type: "text", Text: h.Text}}, Page: h.Page, Section: h.Section}
	}
	api.WriteJSON(w, http.StatusOK, out)
}

// searchQueries reads the query: a string or a list of strings.
func searchQueries(raw json.RawMessage) ([]string, error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		if strings.TrimSpace(one) == "" {
			return nil, api.BadRequest("query", "query is empty")
		}
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil || len(many) == 0 {
		return nil, api.BadRequest("query", "query must be a string or a list of strings")
	}
	for _, q := range many {
		if strings.TrimSpace(q) == "" {
			return nil, api.BadRequest("query", "query holds an empty string")
		}
	}
	return many, nil
}
