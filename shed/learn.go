package shed

import "time"

// The kinds of latency sample the limit judges congestion by: a whole
// answer's latency per output token (Result.Tokens), which does not grow
// with the answer's length; anything else (a stream's first content, an
// embedding, an answer without a token count) by its latency.
const (
	sigLatency  = iota
	sigPerToken // nanoseconds per output token
	numSignals
)

// signal is one kind of latency sample: its EWMA over about ten samples
// and the best EWMA of this and the previous window of 500 samples.
type signal struct {
	ewma, curMin, prevMin float64
	samples               int
}

// add takes sample x and returns the EWMA's ratio to its baseline: the
// best EWMA of this window or the last, an average over recent calls, so
// the spread of answers does not read as congestion, and a floor that
// forgets old windows.
func (s *signal) add(x float64) float64 {
	if s.ewma == 0 {
		s.ewma = x
	} else {
		s.ewma = (s.ewma*9 + x) / 10
	}
	if s.curMin == 0 || s.ewma < s.curMin {
		s.curMin = s.ewma
	}
	if s.samples++; s.samples >= 500 {
		// A new window: the baseline may rise by 5% at most, so lasting
		// congestion does not become the new normal.
		if s.prevMin == 0 || s.curMin < s.prevMin {
			s.prevMin = s.curMin
		} else {
			s.prevMin = min(s.curMin, s.prevMin*21/20)
		}
		s.curMin, s.samples = 0, 0
	}
	return s.ewma / s.base()
}

// base is the signal's baseline, zero before any sample.
func (s *signal) base() float64 {
	if s.prevMin > 0 && (s.curMin == 0 || s.prevMin < s.curMin) {
		return s.prevMin
	}
	return s.curMin
}

// learn adjusts the limit from a call that started at start:
// multiplicative decrease on an overload answer or when the smoothed
// latency of the result's kind (per token for a whole answer) grows
// beyond the tolerance over its baseline, additive increase (about one
// per limit's worth of calls) while the limit is in use and latency is
// within it. Only calls started after the last decrease may decrease it
// again, so one episode of queueing shrinks the limit once, not once per
// call it slowed. A Retry-After pauses grants.
func (l *Limiter) learn(res Result, start, now time.Time) {
	l.pause(now, res.RetryAfter)
	if res.Overloaded {
		l.judgeSpare(0, 0, true)
		l.decrease(start, now, 0.9)
		return
	}
	d := res.Latency
	if d <= 0 {
		return
	}
	if res.Censored {
		// A lower bound of a call's latency: it counts only when it
		// already exceeds the tolerance over the latency baseline, or,
		// when the limit judges by tokens only, over the service time.
		base := l.sig[sigLatency].base()
		if base == 0 {
			base = float64(l.service)
		}
		if base > 0 && float64(d) > l.cfg.Tolerance*base {
			l.decrease(start, now, 0.9)
		}
		return
	}
	if l.service == 0 {
		l.service = d
	} else {
		l.service = (l.service*9 + d) / 10
	}
	kind, x, scale := sigLatency, float64(d), 1.0
	if res.Tokens > 0 {
		kind, x, scale = sigPerToken, x/float64(res.Tokens), float64(res.Tokens)
	}
	ratio := l.sig[kind].add(x)
	// The rise over the baseline, in time: for a whole answer, the
	// per-token rise over this answer's tokens. A rise within the jitter
	// is noise (the scheduling of this process and the upstream's on a
	// busy host), not queueing, however large a ratio it makes of a
	// latency of a few milliseconds.
	rise := time.Duration((l.sig[kind].ewma - l.sig[kind].base()) * scale)
	mid := (1 + l.cfg.Tolerance) / 2
	l.judgeSpare(ratio, rise, false)
	if ratio > l.cfg.Tolerance && rise > l.cfg.Jitter {
		// Down to where latency would be in the middle of the band, were
		// it proportional to the calls in flight (as it is once the
		// upstream queues): at least 10%, at most half.
		l.decrease(start, now, min(max(mid/ratio, 0.5), 0.9))
		return
	}
	// Grow only while latency is in the lower half of the tolerance band
	// (or within half the jitter), and only when the limit is what holds
	// calls back.
	if ratio > mid && rise > l.cfg.Jitter/2 {
		return
	}
	l.grow(res.Holding)
}

// grow raises the limit after a call that found latency in the lower
// half of the band, while the limit holds calls back: by one per limit's
// worth of calls (about one per round of calls, as the calls that return
// their permits teach it again within a service time) while the calls in
// flight hold all of it or others wait. A stream that goes on holding its
// permit (Result.Holding) teaches it once in its whole length, so a limit
// that waited for a round of them would not follow a surge of streams to
// a healthy upstream (2,000 opened at once got 12 served); each such
// stream raises it by one permit for the classes outside the critical
// reserve, while the calls in flight hold half of it or more — doubling
// it each round of first contents, as TCP's slow start, and keeping it
// ahead of a demand that grows as fast.
func (l *Limiter) grow(holding bool) {
	usable := l.limit * (1 - l.cfg.CriticalReserve)
	if holding {
		if float64(l.inflight+1) >= usable/2 || l.queued() > 0 {
			l.limit = min(l.limit+1/(1-l.cfg.CriticalReserve), float64(l.cfg.Max))
		}
		return
	}
	if float64(l.inflight+1) >= usable || l.queued() > 0 || l.spareHeld() {
		l.limit = min(l.limit+1/l.limit, float64(l.cfg.Max))
	}
}

// decrease shrinks the limit by factor, once per episode: only for a
// call started after the last decrease.
func (l *Limiter) decrease(start, now time.Time, factor float64) {
	if start.Before(l.lastDecrease) {
		return
	}
	l.lastDecrease = now
	l.limit = max(l.limit*factor, float64(l.cfg.Min))
}
