package llm

import (
	"cmp"
	"context"
	"errors"
	"slices"
)

// Reranker is a Provider that can rerank documents by their relevance to
// a query (a Cohere-, Jina- or TEI-style /rerank endpoint). It is optional
// and found by type assertion: the gateway tries only the targets whose
// provider implements it. Implementations are safe for concurrent use;
// every error they return is an *Error.
type Reranker interface {
	Rerank(ctx context.Context, req *RerankRequest) (*RerankResponse, error)
}

// ErrUnsupported is the cause (Error.Err) of a call no target of a model
// can serve, such as a rerank call to a model whose providers cannot
// rerank. Its Error has KindBadRequest.
var ErrUnsupported = errors.New("operation not supported")

// RerankRequest is one rerank call: Documents scored against Query.
type RerankRequest struct {
	Model string
	Query string
	// Documents are the texts to score; results refer to them by index.
	Documents []string
	// TopN is how many results to return, best first; zero returns all.
	TopN int
	// Priority, ServiceTier, ClientRetries and RequestID are as for
	// ChatRequest.
	Priority      string
	ServiceTier   string
	ClientRetries int
	RequestID     string
}

// RerankResponse is the result of a rerank call.
type RerankResponse struct {
	// Results are the documents scored, best first; at most TopN of them
	// when the request set TopN.
	Results []RerankResult
	// Model is the model that answered.
	Model string
	Usage Usage
}

// RerankResult is one scored document.
type RerankResult struct {
	// Index is the document's position in RerankRequest.Documents.
	Index int
	// Score is the document's relevance to the query; higher is more
	// relevant. Its scale is the model's (often 0..1).
	Score float64
}

// SortRerank orders results best first; equal scores keep index order.
func SortRerank(rs []RerankResult) {
	slices.SortStableFunc(rs, func(a, b RerankResult) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.Index, b.Index)
	})
}
