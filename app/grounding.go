package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/rag"
)

// kbRetriever is the gateway's knowledge-base search for grounded aliases
// (gateway/ground.go): the stores' hybrid search, each store's best
// chunks merged by score. A query that cannot be embedded in time is
// answered from the keyword index alone, rather than not at all.
type kbRetriever struct{ kb *rag.Service }

func (r kbRetriever) Retrieve(ctx context.Context, tenantID string, storeIDs []string, query string, max int, minScore float64) ([]gateway.Source, []float32, error) {
	var out []gateway.Source
	var query32 []float32
	for _, id := range storeIDs {
		res, err := r.kb.Search(ctx, tenantID, id, rag.Query{Text: query, Max: max, ScoreThreshold: minScore, AllowDegraded: true})
		if errors.Is(err, rag.ErrNotFound) {
			return nil, nil, fmt.Errorf("%w: %s", gateway.ErrSourceNotFound, id)
		}
		if err != nil {
			return nil, nil, err
		}
		if query32 == nil {
			query32 = res.Query // the stores of one alias embed with one model, as a rule
		}
		for _, x := range res.Results {
			out = append(out, gateway.Source{StoreID: id, FileID: x.FileID, Filename: x.Filename, Text: x.Text,
				Page: x.Page, Section: x.Section, Score: x.Score})
		}
	}
	slices.SortStableFunc(out, func(a, b gateway.Source) int { return cmp.Compare(b.Score, a.Score) })
	if len(out) > max {
		out = out[:max]
	}
	return out, query32, nil
}
