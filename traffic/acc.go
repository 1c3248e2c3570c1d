package traffic

import (
	"maps"
	"math"
	"time"
)

// acc accumulates a series' buckets into its points and its total.
type acc struct {
	s       Series
	latency [][latencyBuckets]int64 // a point's histogram
	total   counts
}

func newAcc(points int) *acc {
	return &acc{
		s: Series{
			Requests: make([]int64, points), Errors: make([]int64, points), Shed: make([]int64, points),
			InputTokens: make([]int64, points), OutputTokens: make([]int64, points), CostUSD: make([]float64, points),
			P50: make([]float64, points), P99: make([]float64, points),
		},
		latency: make([][latencyBuckets]int64, points),
	}
}

func (a *acc) add(p int, c *counts) {
	a.s.Requests[p] += c.requests
	a.s.Errors[p] += c.errors
	a.s.Shed[p] += c.shed
	a.s.InputTokens[p] += c.input
	a.s.OutputTokens[p] += c.output
	a.s.CostUSD[p] += c.cost.Dollars()
	for i, n := range c.latency {
		a.latency[p][i] += n
		a.total.latency[i] += n
	}
	a.total.requests += c.requests
	a.total.errors += c.errors
	a.total.shed += c.shed
	a.total.input += c.input
	a.total.output += c.output
	a.total.cost += c.cost
	if len(c.errorTypes) > 0 {
		if a.total.errorTypes == nil {
			a.total.errorTypes = map[string]int64{}
		}
		for t, n := range c.errorTypes {
			a.total.errorTypes[t] += n
		}
	}
}

func (a *acc) series() Series {
	for p := range a.latency {
		a.s.P50[p] = percentile(&a.latency[p], 0.5)
		a.s.P99[p] = percentile(&a.latency[p], 0.99)
	}
	t := &a.total
	a.s.Total = Total{
		Requests: t.requests, Errors: t.errors, Shed: t.shed,
		InputTokens: t.input, OutputTokens: t.output, CostUSD: t.cost.Dollars(),
		P50: percentile(&t.latency, 0.5), P99: percentile(&t.latency, 0.99),
		ErrorTypes: maps.Clone(t.errorTypes),
	}
	return a.s
}

// percentile returns the q-th quantile of h in milliseconds: the upper
// bound of the bucket it falls in; 0 when h is empty.
func percentile(h *[latencyBuckets]int64, q float64) float64 {
	var n int64
	for _, c := range h {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := int64(q*float64(n) + 0.999999) // the ceil of q·n, at least 1
	rank = max(rank, 1)
	var seen int64
	for i, c := range h {
		seen += c
		if seen >= rank {
			return millis(latencyBounds[i])
		}
	}
	return millis(latencyBounds[latencyBuckets-1])
}

// millis is d in milliseconds to a tenth.
func millis(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*10) / 10
}
