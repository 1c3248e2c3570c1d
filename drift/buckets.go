package drift

import (
	"slices"
	"time"
)

// Dimension is one of the distributions kept per alias.
type Dimension int

// The dimensions.
const (
	PromptTokens Dimension = iota
	OutputTokens
	Latency
	FinishReason
	ErrorKind
	// The retrieval of grounded requests (gateway/ground.go): the best
	// chunk's score, how many chunks the model got, and the cosine
	// distance of the query's embedding to the centroid of the baseline
	// window's queries.
	RetrievalScore
	RetrievalChunks
	QueryDistance
	numDimensions
)

var dimensionNames = [numDimensions]string{
	PromptTokens: "prompt_tokens",
	OutputTokens: "output_tokens",
	Latency:      "latency",
	FinishReason: "finish_reason",
	ErrorKind:    "error_kind",

	RetrievalScore:  "retrieval_score",
	RetrievalChunks: "retrieval_chunks",
	QueryDistance:   "query_distance",
}

// String returns the dimension's metric label value.
func (d Dimension) String() string {
	if d >= 0 && d < numDimensions {
		return dimensionNames[d]
	}
	return "unknown"
}

// Dimensions returns every dimension, in order.
func Dimensions() []Dimension {
	return []Dimension{PromptTokens, OutputTokens, Latency, FinishReason, ErrorKind, RetrievalScore, RetrievalChunks, QueryDistance}
}

// Bucket edges: a value v falls in the first bucket whose edge is > v, or
// in the last (overflow) bucket.
var (
	promptEdges  = []float64{16, 64, 256, 1024, 4096, 16384, 65536}
	outputEdges  = []float64{16, 64, 128, 256, 512, 1024, 4096}
	latencyEdges = []float64{0.25, 0.5, 1, 2, 4, 8, 16, 32} // seconds
	scoreEdges   = []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}
	// chunkEdges: 0 (no context above min_score), 1, 2, 3-4, 5-7, 8-12, 13+.
	chunkEdges    = []float64{1, 2, 3, 5, 8, 13}
	distanceEdges = []float64{0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7}
)

// Categories. The last of each is the catch-all.
var (
	finishReasons = []string{"stop", "length", "tool_calls", "content_filter", "other"}
	// errorKinds are the llm.Kind names; "none" is a success.
	errorKinds = []string{"none", "rate_limited", "overloaded", "server_error", "timeout", "connection",
		"stream_broken", "context_length_exceeded", "content_filter", "bad_request", "other"}
)

// bucketCount is the number of buckets of each dimension.
var bucketCount = [numDimensions]int{
	PromptTokens: len(promptEdges) + 1,
	OutputTokens: len(outputEdges) + 1,
	Latency:      len(latencyEdges) + 1,
	FinishReason: len(finishReasons),
	ErrorKind:    len(errorKinds),

	RetrievalScore:  len(scoreEdges) + 1,
	RetrievalChunks: len(chunkEdges) + 1,
	QueryDistance:   len(distanceEdges) + 1,
}

func numericBucket(edges []float64, v float64) int {
	for i, e := range edges {
		if v < e {
			return i
		}
	}
	return len(edges)
}

func categoryBucket(cats []string, v string) int {
	if i := slices.Index(cats, v); i >= 0 {
		return i
	}
	return len(cats) - 1
}

func latencyBucket(d time.Duration) int { return numericBucket(latencyEdges, d.Seconds()) }
