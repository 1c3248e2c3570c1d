package upstream

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		h    map[string]string
		want time.Duration
	}{
		{nil, 0},
		{map[string]string{"Retry-After-Ms": "250"}, 250 * time.Millisecond},
		{map[string]string{"Retry-After-Ms": "12.5"}, 12500 * time.Microsecond},
		{map[string]string{"Retry-After-Ms": "250", "Retry-After": "2"}, 250 * time.Millisecond},
		{map[string]string{"Retry-After-Ms": "-1", "Retry-After": "2"}, 2 * time.Second},
		{map[string]string{"Retry-After-Ms": "soon", "Retry-After": "2"}, 2 * time.Second},
		{map[string]string{"Retry-After-Ms": "1e300"}, 0},
		{map[string]string{"Retry-After": " 7 "}, 7 * time.Second},
		{map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond},
		{map[string]string{"Retry-After": "0"}, 0},
		{map[string]string{"Retry-After": "-3"}, 0},
		{map[string]string{"Retry-After": "1e300"}, 0},
		{map[string]string{"Retry-After": "soon"}, 0},
		{map[string]string{"Retry-After": now.Add(30 * time.Second).Format(http.TimeFormat)}, 30 * time.Second},
		{map[string]string{"Retry-After": now.Add(-30 * time.Second).Format(http.TimeFormat)}, 0},
	} {
		var h http.Header
		if c.h != nil {
			h = http.Header{}
			for k, v := range c.h {
				h.Set(k, v)
			}
		}
		if got := RetryAfter(h, now); got != c.want {
			t.Errorf("RetryAfter(%v) = %v, want %v", c.h, got, c.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"2", 2 * time.Second},
		{"0.25", 250 * time.Millisecond},
		{"0", 0},
		{"NaN", 0},
		{now.Add(time.Minute).Format(http.TimeFormat), time.Minute},
		{now.Format(http.TimeFormat), 0},
		{"tomorrow", 0},
	} {
		if got := ParseRetryAfter(c.v, now); got != c.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", c.v, got, c.want)
		}
	}
}

func TestHeaderCount(t *testing.T) {
	for _, c := range []struct {
		v    string
		want int
	}{
		{"", -1},
		{"42", 42},
		{" 0 ", 0},
		{"41.9", 41},
		{"-1", -1},
		{"-0.5", -1},
		{"99999999999", -1},
		{"1e12", -1},
		{"many", -1},
	} {
		h := http.Header{}
		if c.v != "" {
			h.Set("X-Count", c.v)
		}
		if got := HeaderCount(h, "X-Count"); got != c.want {
			t.Errorf("HeaderCount(%q) = %d, want %d", c.v, got, c.want)
		}
	}
}
