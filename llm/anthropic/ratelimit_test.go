package anthropic

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/sim"
)

func TestRateLimitHeaders(t *testing.T) {
	now := time.Date(2026, 8, 21, 12, 40, 0, 0, time.UTC)
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	for _, c := range []struct {
		name string
		h    map[string]string
		want *llm.RateLimit
	}{
		{"none", nil, nil},
		{"unrelated", map[string]string{"Retry-After": "1", "X-Ratelimit-Remaining-Requests": "5"}, nil},
		{"all of them: tokens-* wins", map[string]string{
			"anthropic-ratelimit-requests-limit": "1000", "anthropic-ratelimit-requests-remaining": "999", "anthropic-ratelimit-requests-reset": at(time.Second),
			"anthropic-ratelimit-tokens-limit": "96000", "anthropic-ratelimit-tokens-remaining": "95000", "anthropic-ratelimit-tokens-reset": at(30 * time.Second),
			"anthropic-ratelimit-input-tokens-limit": "80000", "anthropic-ratelimit-input-tokens-remaining": "1000", "anthropic-ratelimit-input-tokens-reset": at(2 * time.Second),
			"anthropic-ratelimit-output-tokens-limit": "16000", "anthropic-ratelimit-output-tokens-remaining": "500", "anthropic-ratelimit-output-tokens-reset": at(3 * time.Second),
		}, &llm.RateLimit{RemainingRequests: 999, LimitRequests: 1000, ResetRequests: time.Second,
			RemainingTokens: 95000, LimitTokens: 96000, ResetTokens: 30 * time.Second}},
		{"input and output only: the fewer remaining", map[string]string{
			"anthropic-ratelimit-input-tokens-limit": "80000", "anthropic-ratelimit-input-tokens-remaining": "40000", "anthropic-ratelimit-input-tokens-reset": at(2 * time.Second),
			"anthropic-ratelimit-output-tokens-limit": "16000", "anthropic-ratelimit-output-tokens-remaining": "12000", "anthropic-ratelimit-output-tokens-reset": at(3 * time.Second),
		}, &llm.RateLimit{RemainingRequests: -1, LimitRequests: -1, RemainingTokens: 12000, LimitTokens: 16000, ResetTokens: 3 * time.Second}},
		{"input only, unreadable tokens-*", map[string]string{
			"anthropic-ratelimit-tokens-remaining":       "lots",
			"anthropic-ratelimit-input-tokens-remaining": "7", "anthropic-ratelimit-input-tokens-reset": "2026-08-21T12:40:01.5Z",
		}, &llm.RateLimit{RemainingRequests: -1, LimitRequests: -1, RemainingTokens: 7, LimitTokens: -1, ResetTokens: 1500 * time.Millisecond}},
		{"requests only, offset time zone", map[string]string{
			"anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": "2026-08-21T14:41:00+02:00",
		}, &llm.RateLimit{RemainingRequests: 0, LimitRequests: -1, ResetRequests: time.Minute, RemainingTokens: -1, LimitTokens: -1}},
		{"resets past, far or unreadable", map[string]string{
			"anthropic-ratelimit-requests-remaining": "5", "anthropic-ratelimit-requests-reset": at(-time.Second),
			"anthropic-ratelimit-tokens-remaining": "5", "anthropic-ratelimit-tokens-reset": at(48 * time.Hour),
			"anthropic-ratelimit-input-tokens-remaining": "1", "anthropic-ratelimit-input-tokens-reset": "60s",
		}, &llm.RateLimit{RemainingRequests: 5, LimitRequests: -1, RemainingTokens: 5, LimitTokens: -1}},
		{"unreadable counts", map[string]string{"anthropic-ratelimit-requests-remaining": "-3", "anthropic-ratelimit-tokens-remaining": "1e99",
			"anthropic-ratelimit-requests-reset": at(time.Second)}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range c.h {
				h.Set(k, v)
			}
			got := rateLimit(h, now)
			if got != nil {
				if !got.At.Equal(now) {
					t.Errorf("At %v; want the time of the answer", got.At)
				}
				got.At = time.Time{}
			}
			switch {
			case c.want == nil && got != nil:
				t.Fatalf("rateLimit = %+v, want nil", *got)
			case c.want != nil && (got == nil || *got != *c.want):
				t.Fatalf("rateLimit = %+v, want %+v", got, *c.want)
			}
		})
	}
}

// FuzzRateLimitHeaders checks that no header value makes the parser fail
// or state a negative count other than -1, or a reset out of bounds.
func FuzzRateLimitHeaders(f *testing.F) {
	for _, seed := range [][2]string{{"9999", "2026-08-21T12:40:59Z"}, {"0", "2026-08-21T12:40:00.5+01:00"}, {"12.5", "1.5"}, {"-1", ""}, {"1e400", "9999-12-31T23:59:59Z"}, {"NaN", "0001-01-01T00:00:00Z"}} {
		f.Add(seed[0], seed[1])
	}
	now := time.Date(2026, 8, 21, 12, 40, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, count, reset string) {
		h := http.Header{}
		for _, k := range []string{"requests", "tokens", "input-tokens", "output-tokens"} {
			h.Set("anthropic-ratelimit-"+k+"-remaining", count)
			h.Set("anthropic-ratelimit-"+k+"-limit", count)
			h.Set("anthropic-ratelimit-"+k+"-reset", reset)
		}
		rl := rateLimit(h, now)
		if rl == nil {
			return
		}
		for _, n := range []int{rl.RemainingRequests, rl.LimitRequests, rl.RemainingTokens, rl.LimitTokens} {
			if n < -1 {
				t.Fatalf("count %d from %q", n, count)
			}
		}
		for _, d := range []time.Duration{rl.ResetRequests, rl.ResetTokens} {
			if d < 0 || d > maxReset {
				t.Fatalf("reset %s from %q", d, reset)
			}
		}
	})
}

// rateLimitReporter is what the gateway asks of a provider to pace its
// targets (gateway/admit.go).
type rateLimitReporter interface {
	RateLimit(model string) (llm.RateLimit, bool)
}

var _ rateLimitReporter = (*Client)(nil)

// The client reports what the simulator's anthropic-ratelimit-* headers
// say, on its answers, plain and streamed, and on its 429.
func TestClientReportsTheUpstreamRateLimit(t *testing.T) {
	const tpm = 100000
	s := sim.New("sim", 1, map[string]config.SimModel{"m": {RPM: 3, TPM: tpm}, "free": {}})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	c, err := New(Options{Name: "up", BaseURL: srv.URL, APIKey: "sk-ant-test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.RateLimit("m"); ok {
		t.Fatal("a rate limit before any answer")
	}
	body := []byte(`{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"hello"}]}`)
	streamBody := []byte(`{"model":"m","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"hello"}]}`)
	prevTokens := tpm
	for i := range 3 {
		if i == 2 {
			st, err := c.Stream(context.Background(), &llm.ChatRequest{Model: "m", Stream: true, Body: streamBody})
			if err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
			for {
				if _, err := st.Recv(); err == io.EOF {
					break
				} else if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
			}
			st.Close()
		} else if _, err := c.Chat(context.Background(), &llm.ChatRequest{Model: "m", Body: body}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		rl, ok := c.RateLimit("m")
		if !ok || rl.RemainingRequests != 2-i || rl.LimitRequests != 3 || rl.ResetRequests <= 0 || rl.ResetRequests > time.Minute+time.Second {
			t.Fatalf("after call %d: %+v %v, want %d requests left of 3 and a reset within a minute", i, rl, ok, 2-i)
		}
		if rl.LimitTokens != tpm || rl.RemainingTokens >= prevTokens || rl.RemainingTokens <= 0 || rl.ResetTokens <= 0 {
			t.Fatalf("after call %d: %+v, want fewer than %d tokens left of %d and a reset", i, rl, prevTokens, tpm)
		}
		prevTokens = rl.RemainingTokens
		if time.Since(rl.At) > time.Minute {
			t.Fatalf("after call %d: At %v", i, rl.At)
		}
	}
	_, err = c.Chat(context.Background(), &llm.ChatRequest{Model: "m", Body: body})
	var e *llm.Error
	if !errors.As(err, &e) || e.Kind != llm.KindRateLimited || e.RetryAfter <= 0 || e.RateLimit == nil ||
		e.RateLimit.RemainingRequests != 0 || e.RateLimit.LimitRequests != 3 || e.RateLimit.ResetRequests <= 0 {
		t.Fatalf("fourth call: %v (%+v), want a 429 with Retry-After stating no request left", err, e)
	}
	if rl, ok := c.RateLimit("m"); !ok || rl.RemainingRequests != 0 {
		t.Fatalf("after the 429: %+v %v, want none left", rl, ok)
	}
	// A model without limits states none.
	if _, err := c.Chat(context.Background(), &llm.ChatRequest{Model: "free", Body: []byte(`{"model":"free","max_tokens":16,"messages":[{"role":"user","content":"hello"}]}`)}); err != nil {
		t.Fatal(err)
	}
	if rl, ok := c.RateLimit("free"); ok {
		t.Fatalf("free model: %+v, want no rate limit", rl)
	}
}
