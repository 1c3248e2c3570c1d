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
	numDimensions
)

var dimensionNames = [numDimensions]string{
	PromptTokens: "prompt_tokens",
	OutputTokens: "output_tokens",
	Latency:      "latency",
	FinishReason: "finish_reason",
	ErrorKind:    "error_kind",
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
	return []Dimension{PromptTokens, OutputTokens, Latency, FinishReason, ErrorKind}
}

// Bucket edges: a value v falls in the first bucket whose edge is > v, or
// in the last (overflow) bucket.
var (
	promptEdges  = []float64{16, 64, 256, 1024, 4096, 16384, 65536}
	outputEdges  = []float64{16, 64, 128, 256, 512, 1024, 4096}
	latencyEdges = []float64{0.25, 0.5, 1, 2, 4, 8, 16, 32} // seconds
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
