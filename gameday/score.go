package gameday

import (
	"math"
	"slices"
	"time"
)

// Stats summarises a drill's samples.
type Stats struct {
	Requests int            `json:"requests"`
	Served   int            `json:"served"`
	Success  float64        `json:"success_rate"`
	Errors   map[string]int `json:"errors_by_kind"`
	// P50 and P99 are of the requests served, in milliseconds.
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
	// Sheds counts the requests refused for overload, by class.
	Sheds map[string]int `json:"sheds_by_class"`
	// Classes is the share served of each class that sent requests.
	Classes   map[string]float64 `json:"success_by_class"`
	Truncated int                `json:"truncated_streams"`
}

// Summarize computes Stats over samples.
func Summarize(samples []Sample) Stats {
	st := Stats{Requests: len(samples), Errors: map[string]int{}, Sheds: map[string]int{}, Classes: map[string]float64{}}
	sent, served := map[string]int{}, map[string]int{}
	var lat []time.Duration
	for _, s := range samples {
		sent[s.Class]++
		switch {
		case s.OK():
			st.Served++
			served[s.Class]++
			lat = append(lat, s.Latency)
		default:
			st.Errors[s.Kind]++
			if s.Kind == Truncated {
				st.Truncated++
			}
			if s.Shed {
				st.Sheds[s.Class]++
			}
		}
	}
	if st.Requests > 0 {
		st.Success = float64(st.Served) / float64(st.Requests)
	}
	for c, n := range sent {
		st.Classes[c] = float64(served[c]) / float64(n)
	}
	st.P50MS = ms(Percentile(lat, 0.50))
	st.P99MS = ms(Percentile(lat, 0.99))
	return st
}

// Percentile returns the p-th quantile of v by the nearest-rank method
// (the smallest value with at least p of the values at or below it); 0
// for no values. v is not changed.
func Percentile(v []time.Duration, p float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// RecoveryTime returns how long after cleared the share of requests
// served first reached threshold over a window: the least d ≥ 0 such that
// the requests scheduled in [cleared+d, cleared+d+window) number at least
// minRequests and were served at threshold or more, with d taken at the
// schedule times of the samples and the window within the traffic, which
// ended at end. It reports false when that never happened. The samples'
// At must be in ascending order.
func RecoveryTime(samples []Sample, cleared, end, window time.Duration, threshold float64, minRequests int) (time.Duration, bool) {
	lo := 0
	for lo < len(samples) && samples[lo].At < cleared {
		lo++
	}
	hi, ok := lo, 0 // the window is samples[i:hi]; ok counts its served
	for i := lo; i < len(samples); i++ {
		start := samples[i].At
		if start+window > end {
			break // the window runs past the traffic: not a full window
		}
		for hi < len(samples) && samples[hi].At < start+window {
			if samples[hi].OK() {
				ok++
			}
			hi++
		}
		if n := hi - i; n >= max(minRequests, 1) && float64(ok) >= threshold*float64(n) {
			return max(start-cleared, 0), true
		}
		if samples[i].OK() {
			ok--
		}
	}
	return 0, false
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }
