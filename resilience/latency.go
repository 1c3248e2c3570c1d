package resilience

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Load tracks a target's outstanding calls and latency: a peak EWMA (a
// slow answer raises it at once, fast answers lower it with a decay time)
// and a ring of recent latencies for a p95. It is safe for concurrent use.
type Load struct {
	outstanding atomic.Int64

	mu    sync.Mutex
	ewma  float64 // nanoseconds
	last  time.Time
	ring  [64]time.Duration
	n     int
	decay time.Duration
}

// NewLoad returns a tracker whose EWMA decays over decay (10s when zero).
func NewLoad(decay time.Duration) *Load {
	if decay <= 0 {
		decay = 10 * time.Second
	}
	return &Load{decay: decay}
}

// Begin records the start of a call; the returned function records its
// end and latency (record=false ends the call without a latency sample).
func (l *Load) Begin() (done func(latency time.Duration, record bool)) {
	l.outstanding.Add(1)
	var once atomic.Bool
	return func(d time.Duration, record bool) {
		if !once.CompareAndSwap(false, true) {
			return
		}
		l.outstanding.Add(-1)
		if record {
			l.observe(d)
		}
	}
}

func (l *Load) observe(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	v := float64(d)
	switch {
	case l.last.IsZero() || v > l.ewma:
		l.ewma = v // peak: jump up at once
	default:
		w := math.Exp(-float64(now.Sub(l.last)) / float64(l.decay))
		l.ewma = l.ewma*w + v*(1-w)
	}
	l.last = now
	l.ring[l.n%len(l.ring)] = d
	l.n++
}

// Outstanding returns the calls in flight.
func (l *Load) Outstanding() int64 { return l.outstanding.Load() }

// Cost is the peak-EWMA score: latency times (outstanding+1). A target
// never measured costs as much as its outstanding calls alone, so it gets
// tried.
func (l *Load) Cost() float64 {
	l.mu.Lock()
	e := l.ewma
	l.mu.Unlock()
	return max(e, 1) * float64(l.outstanding.Load()+1)
}

// P95 returns the 95th percentile of recent latencies, zero before the
// first sample.
func (l *Load) P95() time.Duration {
	l.mu.Lock()
	n := min(l.n, len(l.ring))
	s := slices.Clone(l.ring[:n])
	l.mu.Unlock()
	if n == 0 {
		return 0
	}
	slices.Sort(s)
	return s[(n*95+99)/100-1]
}

// Min returns the shortest of recent latencies, zero before the first
// sample: a call that has less time than this left is unlikely to be
// answered in time.
func (l *Load) Min() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(l.n, len(l.ring))
	if n == 0 {
		return 0
	}
	return slices.Min(l.ring[:n])
}
