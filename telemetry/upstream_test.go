package telemetry

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSetUpstreamLoadOnScrape(t *testing.T) {
	m := NewMetrics(MetricsOptions{NoProcessMetrics: true})
	samples := []UpstreamLoadSample{
		{Provider: "gpu1", Model: "llama", Waiting: 3, Running: 12, KVCache: 0.625, HasKVCache: true},
		{Provider: "gpu2", Model: "llama", Running: 1},
	}
	m.OnScrape(func() { m.SetUpstreamLoad(samples) })
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	body := scrape()
	for _, want := range []string{
		`bulwark_upstream_requests_waiting{model="llama",provider="gpu1"} 3`,
		`bulwark_upstream_requests_running{model="llama",provider="gpu1"} 12`,
		`bulwark_upstream_kv_cache_usage_ratio{model="llama",provider="gpu1"} 0.625`,
		`bulwark_upstream_requests_running{model="llama",provider="gpu2"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(body, `bulwark_upstream_kv_cache_usage_ratio{model="llama",provider="gpu2"}`) {
		t.Error("a server that reports no KV cache has a KV-cache gauge")
	}
	samples = samples[1:] // gpu1's report went stale
	if body := scrape(); strings.Contains(body, `provider="gpu1"`) {
		t.Error("a stale report is still exported")
	}
	var nilMetrics *Metrics
	nilMetrics.SetUpstreamLoad(samples)
}
