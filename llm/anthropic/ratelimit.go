package anthropic

import (
	"net/http"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	up "github.com/bulwark-ai/bulwark/llm/upstream"
)

// maxReset bounds a stated reset time; beyond it the value is taken as
// unreadable (a clock far off, a mistaken timestamp).
const maxReset = 24 * time.Hour

// RateLimit returns the rate limit the upstream stated on its latest
// answer for model (its anthropic-ratelimit-* headers), successful or not,
// and whether any answer stated one. Under concurrent calls the latest
// answer may be another call's: the statement is about the upstream's
// account, not about one call. The gateway reads it after every attempt,
// as it reads llm/openai's, to pace the target before it refuses.
func (c *Client) RateLimit(model string) (llm.RateLimit, bool) {
	v, ok := c.rates.Load(model)
	if !ok {
		return llm.RateLimit{}, false
	}
	return *v.(*llm.RateLimit), true
}

// rateLimit reads what an answer's anthropic-ratelimit-* headers say about
// the upstream's rate limit, with the resets, which Anthropic states as
// RFC 3339 times, made durations from now:
//
//   - requests: anthropic-ratelimit-requests-limit, -remaining, -reset;
//   - tokens: anthropic-ratelimit-tokens-limit, -remaining, -reset (the
//     most restrictive of Anthropic's token limits) when the answer states
//     its remaining count; else the input-tokens-* or output-tokens-*
//     limit, whichever has fewer tokens remaining.
//
// It returns nil when the answer states neither a remaining request count
// nor a remaining token count. Unreadable values count as not stated.
func rateLimit(h http.Header, now time.Time) *llm.RateLimit {
	if h == nil {
		return nil
	}
	rl := &llm.RateLimit{
		RemainingRequests: up.HeaderCount(h, "Anthropic-Ratelimit-Requests-Remaining"),
		LimitRequests:     up.HeaderCount(h, "Anthropic-Ratelimit-Requests-Limit"),
		ResetRequests:     parseReset(h.Get("Anthropic-Ratelimit-Requests-Reset"), now),
		RemainingTokens:   -1,
		LimitTokens:       -1,
		At:                now,
	}
	for _, kind := range [...]string{"Tokens", "Input-Tokens", "Output-Tokens"} {
		remaining := up.HeaderCount(h, "Anthropic-Ratelimit-"+kind+"-Remaining")
		if remaining < 0 {
			continue
		}
		if rl.RemainingTokens >= 0 && remaining >= rl.RemainingTokens {
			continue
		}
		rl.RemainingTokens = remaining
		rl.LimitTokens = up.HeaderCount(h, "Anthropic-Ratelimit-"+kind+"-Limit")
		rl.ResetTokens = parseReset(h.Get("Anthropic-Ratelimit-"+kind+"-Reset"), now)
		if kind == "Tokens" {
			// The overall token limit, when stated, is the one that holds.
			break
		}
	}
	if rl.RemainingRequests < 0 && rl.RemainingTokens < 0 {
		return nil
	}
	return rl
}

// parseReset reads a reset time stated as an RFC 3339 time and returns how
// long from now until it; zero when absent, unreadable, already past or
// more than maxReset away.
func parseReset(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	if d <= 0 || d > maxReset {
		return 0
	}
	return d
}
