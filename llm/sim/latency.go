package sim

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"github.com/bulwark-ai/bulwark/config"
)

// z99 is the 99th percentile of the standard normal distribution.
const z99 = 2.3263478740408408

// forever is a wait that only the context ends.
const forever = time.Duration(math.MaxInt64)

// latency is a log-normal distribution of delays, fitted so that its median
// is P50 and its 99th percentile P99.
type latency struct {
	median float64 // nanoseconds; zero: no delay
	sigma  float64 // zero: always the median
}

func newLatency(l config.Latency) latency {
	p50, p99 := float64(l.P50), float64(l.P99)
	switch {
	case p50 <= 0:
		return latency{}
	case p99 <= p50:
		return latency{median: p50}
	}
	return latency{median: p50, sigma: math.Log(p99/p50) / z99}
}

// draw returns one delay. It takes a value from r only when the delay is
// random.
func (l latency) draw(r *rand.Rand) time.Duration {
	switch {
	case l.median == 0:
		return 0
	case l.sigma == 0:
		return time.Duration(l.median)
	}
	d := l.median * math.Exp(l.sigma*r.NormFloat64())
	if d >= float64(forever) {
		return forever - 1
	}
	return time.Duration(d)
}

// addDelay adds two delays, saturating at forever.
func addDelay(a, b time.Duration) time.Duration {
	if a >= forever-b {
		return forever
	}
	return a + b
}

// sleep waits for d, or until ctx ends, in which case it returns ctx's
// error. A wait of forever ends with ctx only. t is the caller's timer,
// created on first use and reused after, so that a stream allocates one
// timer however many tokens it paces.
func sleep(ctx context.Context, t **time.Timer, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	if d == forever {
		<-ctx.Done()
		return ctx.Err()
	}
	if *t == nil {
		*t = time.NewTimer(d)
	} else {
		(*t).Reset(d)
	}
	select {
	case <-(*t).C:
		return nil
	case <-ctx.Done():
		(*t).Stop()
		return ctx.Err()
	}
}
