package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
)

// gate bounds the requests a model serves at once, with a FIFO queue of
// bounded length in front. It is safe for concurrent use.
type gate struct {
	slots   chan struct{} // a token per request in service
	queue   int64
	waiting atomic.Int64
}

var errFull = errors.New("over capacity")

func newGate(concurrency, queue int) *gate {
	return &gate{slots: make(chan struct{}, concurrency), queue: int64(queue)}
}

// acquire takes a slot, waiting in the queue while every slot is taken. It
// returns errFull at once when the queue is full too, and ctx's error when
// ctx ends while waiting.
func (g *gate) acquire(ctx context.Context) error {
	select {
	case g.slots <- struct{}{}:
		return nil
	default:
	}
	if g.waiting.Add(1) > g.queue {
		g.waiting.Add(-1)
		return errFull
	}
	defer g.waiting.Add(-1)
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gate) release() { <-g.slots }

// limiter enforces per-minute request and token limits over a rolling
// minute. It is safe for concurrent use.
type limiter struct {
	rpm, tpm int

	mu     sync.Mutex
	stamps []stamp // admitted requests, oldest first, from head
	head   int
	tokens int // tokens of stamps[head:]
}

type stamp struct {
	at     time.Time
	tokens int
}

// limitHit says which limit refused a request.
type limitHit uint8

const (
	hitNone     limitHit = iota
	hitRequests          // RPM reached
	hitTokens            // TPM reached
	hitTooLarge          // the request alone is over TPM
)

// take admits a request that costs tokens, or says which limit refuses it
// and how long until it would fit. The returned rateInfo is the state after
// the decision.
func (l *limiter) take(now time.Time, tokens int) (rateInfo, limitHit, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	used := len(l.stamps) - l.head
	hit, wait := hitNone, time.Duration(0)
	if l.rpm > 0 && used >= l.rpm {
		hit, wait = hitRequests, l.stamps[l.head].at.Add(time.Minute).Sub(now)
	}
	if l.tpm > 0 {
		switch {
		case tokens > l.tpm:
			if hit == hitNone {
				hit = hitTooLarge
			}
		case l.tokens+tokens > l.tpm:
			if hit == hitNone {
				hit = hitTokens
			}
			wait = max(wait, l.fits(tokens).Add(time.Minute).Sub(now))
		}
	}
	if hit == hitNone {
		l.stamps = append(l.stamps, stamp{now, tokens})
		l.tokens += tokens
	}
	return l.info(now), hit, wait
}

// prune drops the requests older than a minute.
func (l *limiter) prune(now time.Time) {
	cutoff := now.Add(-time.Minute)
	for l.head < len(l.stamps) && !l.stamps[l.head].at.After(cutoff) {
		l.tokens -= l.stamps[l.head].tokens
		l.head++
	}
	if l.head == len(l.stamps) {
		l.stamps, l.head = l.stamps[:0], 0
	} else if l.head > 64 && l.head*2 > len(l.stamps) {
		n := copy(l.stamps, l.stamps[l.head:])
		l.stamps, l.head = l.stamps[:n], 0
	}
}

// fits returns the admission time of the request whose leaving the window
// makes room for tokens more.
func (l *limiter) fits(tokens int) time.Time {
	left := l.tokens
	for _, s := range l.stamps[l.head:] {
		left -= s.tokens
		if left+tokens <= l.tpm {
			return s.at
		}
	}
	return l.stamps[len(l.stamps)-1].at
}

// info is the limits' state at now. Its reset times are, as OpenAI
// defines them, how long until the limit is back to its initial state:
// until the newest request leaves the window.
func (l *limiter) info(now time.Time) rateInfo {
	used := len(l.stamps) - l.head
	var reset time.Duration
	if used > 0 {
		reset = l.stamps[len(l.stamps)-1].at.Add(time.Minute).Sub(now)
	}
	ri := rateInfo{}
	if l.rpm > 0 {
		ri.hasReq, ri.limitReq, ri.remainingReq, ri.resetReq = true, l.rpm, max(l.rpm-used, 0), reset
	}
	if l.tpm > 0 {
		ri.hasTok, ri.limitTok, ri.remainingTok, ri.resetTok = true, l.tpm, max(l.tpm-l.tokens, 0), reset
	}
	return ri
}

// rateInfo is what the x-ratelimit-* headers of an answer say.
type rateInfo struct {
	hasReq, hasTok             bool
	limitReq, limitTok         int // 0: not sent
	remainingReq, remainingTok int
	resetReq, resetTok         time.Duration
}

func (ri *rateInfo) limited() bool { return ri.hasReq || ri.hasTok }

// rateLimit is ri as an llm.RateLimit, what a client reads from the
// headers.
func (ri *rateInfo) rateLimit() *llm.RateLimit {
	rl := &llm.RateLimit{RemainingRequests: -1, LimitRequests: -1, RemainingTokens: -1, LimitTokens: -1, At: time.Now()}
	if ri.hasReq {
		rl.RemainingRequests, rl.ResetRequests = ri.remainingReq, max(ri.resetReq, 0).Round(time.Millisecond)
		if ri.limitReq > 0 {
			rl.LimitRequests = ri.limitReq
		}
	}
	if ri.hasTok {
		rl.RemainingTokens, rl.ResetTokens = ri.remainingTok, max(ri.resetTok, 0).Round(time.Millisecond)
		if ri.limitTok > 0 {
			rl.LimitTokens = ri.limitTok
		}
	}
	return rl
}

// RateLimit returns what the x-ratelimit-* headers of an answer of model
// would say now, and whether the model has a rate limit: the in-process
// counterpart of the HTTP API's headers, which a gateway reads after each
// call as it reads llm/openai's.
func (s *Sim) RateLimit(model string) (llm.RateLimit, bool) {
	m, ok := s.models[model]
	if !ok || m.limits == nil {
		return llm.RateLimit{}, false
	}
	ri := m.limits.state(time.Now())
	return *ri.rateLimit(), true
}

// state is the limits' state at now.
func (l *limiter) state(now time.Time) rateInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	return l.info(now)
}

// header writes the x-ratelimit-* headers.
func (ri *rateInfo) header(h http.Header) {
	if ri.hasReq {
		if ri.limitReq > 0 {
			h.Set("X-Ratelimit-Limit-Requests", strconv.Itoa(ri.limitReq))
		}
		h.Set("X-Ratelimit-Remaining-Requests", strconv.Itoa(ri.remainingReq))
		h.Set("X-Ratelimit-Reset-Requests", formatReset(ri.resetReq))
	}
	if ri.hasTok {
		if ri.limitTok > 0 {
			h.Set("X-Ratelimit-Limit-Tokens", strconv.Itoa(ri.limitTok))
		}
		h.Set("X-Ratelimit-Remaining-Tokens", strconv.Itoa(ri.remainingTok))
		h.Set("X-Ratelimit-Reset-Tokens", formatReset(ri.resetTok))
	}
}

// formatReset writes a reset time the way OpenAI does ("1s", "6m0s",
// "120ms").
func formatReset(d time.Duration) string {
	return max(d, 0).Round(time.Millisecond).String()
}

// retryAfterHeader writes Retry-After (whole seconds, rounded up, at least
// one) and retry-after-ms.
func retryAfterHeader(h http.Header, d time.Duration) {
	if d <= 0 {
		return
	}
	h.Set("Retry-After", strconv.FormatInt(max(int64(math.Ceil(d.Seconds())), 1), 10))
	h.Set("Retry-After-Ms", strconv.FormatInt(max(d.Milliseconds(), 1), 10))
}

// rateLimitError is the 429 of a request over RPM or TPM.
func (s *Sim) rateLimitError(m *model, hit limitHit, wait time.Duration, tokens int) *llm.Error {
	l := m.limits
	ri := l.state(time.Now())
	e := &llm.Error{
		Kind: llm.KindRateLimited, Status: http.StatusTooManyRequests, Code: codeRateLimit,
		RetryAfter: wait, RateLimit: ri.rateLimit(), Provider: s.name, Model: m.name,
	}
	switch hit {
	case hitRequests:
		e.Type = "requests"
		e.Message = fmt.Sprintf("Rate limit reached for %s on requests per min (RPM): Limit %d, Used %d, Requested 1. Please try again in %s.",
			m.name, l.rpm, l.rpm, wait.Round(time.Millisecond))
	case hitTokens:
		e.Type = "tokens"
		e.Message = fmt.Sprintf("Rate limit reached for %s on tokens per min (TPM): Limit %d, Requested %d. Please try again in %s.",
			m.name, l.tpm, tokens, wait.Round(time.Millisecond))
	default:
		e.Type = "tokens"
		e.Message = fmt.Sprintf("Request too large for %s on tokens per min (TPM): Limit %d, Requested %d. The input or output tokens must be reduced in order to run successfully.",
			m.name, l.tpm, tokens)
	}
	return e
}

// overCapacityError is the answer beyond a model's slots and queue.
func (s *Sim) overCapacityError(m *model) *llm.Error {
	return &llm.Error{
		Kind: llm.KindForStatus(m.overCap), Status: m.overCap, Type: typeServer, Code: "overloaded",
		Message:  fmt.Sprintf("The model %s is currently overloaded with other requests. Please try again later.", m.name),
		Provider: s.name, Model: m.name,
	}
}
