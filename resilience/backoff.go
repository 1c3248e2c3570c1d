package resilience

import (
	"math/rand/v2"
	"time"
)

// Backoff returns the wait before retry number n (n ≥ 1: the first retry)
// with full jitter: a uniform draw from [0, min(max, base·2ⁿ⁻¹)]. rnd
// returns a value in [0, 1); nil means math/rand/v2.
func Backoff(base, max time.Duration, n int, rnd func() float64) time.Duration {
	if base <= 0 {
		return 0
	}
	ceil := base
	for i := 1; i < n && ceil < max; i++ {
		ceil *= 2
	}
	if max > 0 && ceil > max {
		ceil = max
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	return time.Duration(rnd() * float64(ceil))
}
