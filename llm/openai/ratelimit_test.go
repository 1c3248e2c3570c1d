package openai

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/sim"
)

func TestRateLimitHeaders(t *testing.T) {
	for _, c := range []struct {
		name string
		h    map[string]string
		want *llm.RateLimit
	}{
		{"none", nil, nil},
		{"unrelated", map[string]string{"Retry-After": "1"}, nil},
		{"openai", map[string]string{
			"x-ratelimit-limit-requests": "10000", "x-ratelimit-remaining-requests": "9999", "x-ratelimit-reset-requests": "6ms",
			"x-ratelimit-limit-tokens": "2000000", "x-ratelimit-remaining-tokens": "1999980", "x-ratelimit-reset-tokens": "6m0s",
		}, &llm.RateLimit{RemainingRequests: 9999, LimitRequests: 10000, ResetRequests: 6 * time.Millisecond,
			RemainingTokens: 1999980, LimitTokens: 2000000, ResetTokens: 6 * time.Minute}},
		{"requests only, fractional reset", map[string]string{"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "2m59.56s"},
			&llm.RateLimit{RemainingRequests: 0, LimitRequests: -1, ResetRequests: 2*time.Minute + 59560*time.Millisecond, RemainingTokens: -1, LimitTokens: -1}},
		{"reset in seconds, count as a float", map[string]string{"x-ratelimit-remaining-tokens": "12.0", "x-ratelimit-reset-tokens": "1.5"},
			&llm.RateLimit{RemainingRequests: -1, LimitRequests: -1, RemainingTokens: 12, LimitTokens: -1, ResetTokens: 1500 * time.Millisecond}},
		{"unreadable values", map[string]string{"x-ratelimit-remaining-requests": "-3", "x-ratelimit-remaining-tokens": "lots",
			"x-ratelimit-reset-requests": "soon", "x-ratelimit-limit-requests": "1e99"}, nil},
		{"reset beyond a day or negative", map[string]string{"x-ratelimit-remaining-requests": "5", "x-ratelimit-reset-requests": "1700000000",
			"x-ratelimit-remaining-tokens": "5", "x-ratelimit-reset-tokens": "-1s"},
			&llm.RateLimit{RemainingRequests: 5, LimitRequests: -1, RemainingTokens: 5, LimitTokens: -1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range c.h {
				h.Set(k, v)
			}
			before := time.Now()
			got := rateLimit(h)
			if got != nil {
				if got.At.Before(before) || got.At.After(time.Now()) {
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
	for _, seed := range [][2]string{{"9999", "6m0s"}, {"0", "20ms"}, {"12.5", "1.5"}, {"-1", "-1s"}, {"", ""}, {"1e400", "9999999999h"}, {"NaN", "1h0m0.5s"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, count, reset string) {
		h := http.Header{}
		for _, k := range []string{"requests", "tokens"} {
			h.Set("X-Ratelimit-Remaining-"+k, count)
			h.Set("X-Ratelimit-Limit-"+k, count)
			h.Set("X-Ratelimit-Reset-"+k, reset)
		}
		rl := rateLimit(h)
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

// The client reports what the simulator's x-ratelimit-* headers say, on
// its answers and on its 429.
func TestClientReportsTheUpstreamRateLimit(t *testing.T) {
	s := sim.New("sim", 1, map[string]config.SimModel{"m": {RPM: 3}, "free": {}})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	c, err := New(Options{Name: "up", BaseURL: srv.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.RateLimit("m"); ok {
		t.Fatal("a rate limit before any answer")
	}
	req := &llm.ChatRequest{Model: "m", Messages: []llm.Message{{Role: "user", Content: "hello"}}}
	for i := range 3 {
		if _, err := c.Chat(context.Background(), req); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		rl, ok := c.RateLimit("m")
		if !ok || rl.RemainingRequests != 2-i || rl.LimitRequests != 3 || rl.ResetRequests <= 0 {
			t.Fatalf("after call %d: %+v %v, want %d requests left of 3 and a reset", i, rl, ok, 2-i)
		}
	}
	_, err = c.Chat(context.Background(), req)
	var e *llm.Error
	if !errors.As(err, &e) || e.Kind != llm.KindRateLimited || e.RateLimit == nil || e.RateLimit.RemainingRequests != 0 {
		t.Fatalf("fourth call: %v (rate limit %+v), want a 429 stating none left", err, e)
	}
	// A model without limits states none.
	free := *req
	free.Model = "free"
	if _, err := c.Chat(context.Background(), &free); err != nil {
		t.Fatal(err)
	}
	if rl, ok := c.RateLimit("free"); ok {
		t.Fatalf("free model: %+v, want no rate limit", rl)
	}
}
