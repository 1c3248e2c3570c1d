package drift

import "strconv"

// Labels returns the names of a dimension's buckets, in order, for the
// admin console's charts: "<16", "16–64", … "≥65536" for a numeric
// dimension (latency in seconds), the categories for the others.
func (d Dimension) Labels() []string {
	switch d {
	case FinishReason:
		return append([]string(nil), finishReasons...)
	case ErrorKind:
		return append([]string(nil), errorKinds...)
	}
	var edges []float64
	switch d {
	case PromptTokens:
		edges = promptEdges
	case OutputTokens:
		edges = outputEdges
	case Latency:
		edges = latencyEdges
	case RetrievalScore:
		edges = scoreEdges
	case RetrievalChunks:
		edges = chunkEdges
	case QueryDistance:
		edges = distanceEdges
	default:
		return nil
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	out := make([]string, 0, len(edges)+1)
	out = append(out, "<"+f(edges[0]))
	for i := 1; i < len(edges); i++ {
		out = append(out, f(edges[i-1])+"–"+f(edges[i]))
	}
	return append(out, "≥"+f(edges[len(edges)-1]))
}
