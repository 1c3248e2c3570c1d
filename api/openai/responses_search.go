package openai

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/rag"
)

// retrieval is what the file_search tool found for one request: the
// chunks of the tenant's vector stores that best match the user's last
// message, best first. They are given to the model in the system message,
// numbered from 1, and the model is asked to cite them as [n]; the answer
// carries a file_citation annotation for each citation (or, when the
// model cited none, one for each file the chunks came from, at the end).
type retrieval struct {
	id      string // the file_search_call item's
	query   string
	sources []rag.Result
}

// search runs the request's file_search over the tenant's vector stores
// for the text of the conversation's last user message.
func (t *turn) search(ctx context.Context, kb *rag.Service) error {
	fs := t.req.fileSearch
	if kb == nil {
		return api.BadRequest("tools", "the file_search tool needs Bulwark's knowledge bases, which are off on this server")
	}
	f := &retrieval{id: newID("fs_"), query: lastUserText(t.history)}
	t.found = f
	if strings.TrimSpace(f.query) == "" {
		return nil // nothing to search for: the model answers without
	}
	ctx, cancel := context.WithTimeout(ctx, searchTimeout)
	defer cancel()
	q := rag.Query{Text: f.query, Max: fs.max, Filter: fs.filter, Rerank: fs.rerank, ScoreThreshold: fs.scoreThreshold, AllowDegraded: true}
	for _, id := range fs.storeIDs {
		res, err := kb.Search(ctx, t.tenantID, id, q)
		if err != nil {
			return searchError(err, id)
		}
		f.sources = append(f.sources, res.Results...)
	}
	if len(fs.storeIDs) > 1 {
		slices.SortStableFunc(f.sources, func(a, b rag.Result) int { return cmp.Compare(b.Score, a.Score) })
	}
	if len(f.sources) > fs.max {
		f.sources = f.sources[:fs.max]
	}
	return nil
}

// searchError maps a search failure: an unknown store (or another
// tenant's) is a 404 that names it.
func searchError(err error, storeID string) error {
	switch {
	case errors.Is(err, rag.ErrNotFound):
		e := api.Errorf(http.StatusNotFound, api.TypeInvalidRequest, "not_found", "Vector store with id '%s' not found.", storeID)
		e.Param = "tools"
		return e
	case errors.Is(err, rag.ErrInvalid):
		return api.BadRequest("tools", "file_search: %s", strings.TrimPrefix(err.Error(), rag.ErrInvalid.Error()+": "))
	}
	return fmt.Errorf("file_search in vector store %s: %w", storeID, err)
}

// lastUserText returns the text of the last user message of items.
func lastUserText(items []item) string {
	for i := len(items) - 1; i >= 0; i-- {
		it := items[i]
		if it.Type != "message" || it.Role != "user" {
			continue
		}
		var b strings.Builder
		for _, p := range it.Content {
			if p.Text != nil {
				if b.Len() > 0 {
					b.WriteByte('\n')
				}
				b.WriteString(*p.Text)
			}
		}
		return b.String()
	}
	return ""
}

// context returns the system message text that gives the model the
// sources (as a grounded alias's, gateway.GroundingContext), "" when
// there are none.
func (f *retrieval) context() string {
	if len(f.sources) == 0 {
		return ""
	}
	src := make([]gateway.Source, len(f.sources))
	for i, s := range f.sources {
		src[i] = gateway.Source{FileID: s.FileID, Filename: s.Filename, Text: s.Text, Page: s.Page, Section: s.Section, Score: s.Score}
	}
	return gateway.GroundingContext(src)
}

// fileSearchCallOut is a file_search_call output item.
type fileSearchCallOut struct {
	Type    string             `json:"type"`
	ID      string             `json:"id"`
	Status  string             `json:"status"`
	Queries []string           `json:"queries"`
	Results []fileSearchResult `json:"results"`
}

type fileSearchResult struct {
	FileID     string         `json:"file_id"`
	Filename   string         `json:"filename"`
	Score      float64        `json:"score"`
	Text       string         `json:"text"`
	Attributes map[string]any `json:"attributes"`
	// Page and Section are Bulwark's: where in the file the chunk is.
	Page    int    `json:"page,omitempty"`
	Section string `json:"section,omitempty"`
}

// call returns the file_search_call item, with its results when the
// client asked for them (include: file_search_call.results).
func (f *retrieval) call(results bool) fileSearchCallOut {
	c := fileSearchCallOut{Type: "file_search_call", ID: f.id, Status: "completed", Queries: []string{f.query}}
	if results {
		c.Results = make([]fileSearchResult, len(f.sources))
		for i, s := range f.sources {
			attrs := s.Attributes
			if attrs == nil {
				attrs = map[string]any{}
			}
			c.Results[i] = fileSearchResult{FileID: s.FileID, Filename: s.Filename, Score: s.Score, Text: s.Text,
				Attributes: attrs, Page: s.Page, Section: s.Section}
		}
	}
	return c
}

// citation matches a citation of source n: [n], or 【n】 and 【n†…】 as
// OpenAI's own models write them.
var citation = regexp.MustCompile(`\[(\d{1,3})\]|【(\d{1,3})(?:†[^】]*)?】`)

// cite returns the file_citation annotations of text: one for each
// citation of a source in it, at the citation's index (in characters);
// when it cites none, one for each file the sources came from, at the
// end of the text.
func (f *retrieval) cite(text string) []annotation {
	out := []annotation{}
	if len(f.sources) == 0 || text == "" {
		return out
	}
	for _, m := range citation.FindAllStringSubmatchIndex(text, -1) {
		var num string
		if m[2] >= 0 {
			num = text[m[2]:m[3]]
		} else {
			num = text[m[4]:m[5]]
		}
		n, _ := strconv.Atoi(num)
		if n < 1 || n > len(f.sources) {
			continue
		}
		out = append(out, f.annotation(n-1, utf8.RuneCountInString(text[:m[0]])))
	}
	if len(out) > 0 {
		return out
	}
	end := utf8.RuneCountInString(text)
	seen := map[string]bool{}
	for i, s := range f.sources {
		if !seen[s.FileID] {
			seen[s.FileID] = true
			out = append(out, f.annotation(i, end))
		}
	}
	return out
}

func (f *retrieval) annotation(i, index int) annotation {
	s := f.sources[i]
	return annotation{Type: "file_citation", Index: index, FileID: s.FileID, Filename: s.Filename, Page: s.Page, Section: s.Section}
}
