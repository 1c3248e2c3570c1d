package config

import (
	"net/url"
	"strings"
	"time"
)

// LoadMetrics makes Bulwark scrape the load a self-hosted model server
// reports in the Prometheus text format at its /metrics (vLLM's
// vllm:num_requests_waiting, vllm:num_requests_running and KV-cache usage),
// for the least_loaded balance policy and the bulwark_upstream_* gauges.
// Present (even empty: load_metrics: {}) means on.
type LoadMetrics struct {
	// URL is the metrics page (default: base_url's scheme and host with
	// the path /metrics, where vLLM serves them).
	URL string `yaml:"url" json:"url,omitempty"`
	// Interval is the time between two scrapes (default 5s). A report
	// older than three intervals is stale: routing ignores it.
	Interval Duration `yaml:"interval" json:"interval"`
	// Timeout bounds one scrape (default 1s, at most Interval).
	Timeout Duration `yaml:"timeout" json:"timeout"`
}

// Load-metrics defaults.
const (
	DefaultLoadMetricsInterval = 5 * time.Second
	DefaultLoadMetricsTimeout  = time.Second
)

// MetricsURL returns the page to scrape: URL, or base_url's scheme and
// host with the path /metrics. It returns "" when neither gives one (a
// {model} placeholder in the host), which Validate reports.
func (l LoadMetrics) MetricsURL(baseURL string) string {
	if l.URL != "" {
		return l.URL
	}
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" || strings.Contains(u.Host, "{") {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/metrics"}).String()
}

// Every returns the scrape interval with its default applied.
func (l LoadMetrics) Every() time.Duration {
	return or(l.Interval.D(), DefaultLoadMetricsInterval)
}

// TimeoutOrDefault returns the scrape timeout with its default applied,
// never above the interval.
func (l LoadMetrics) TimeoutOrDefault() time.Duration {
	return min(or(l.Timeout.D(), DefaultLoadMetricsTimeout), l.Every())
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// loadMetrics validates a provider's load_metrics.
func (v *validator) loadMetrics(path string, p Provider) {
	l := p.LoadMetrics
	if l == nil {
		return
	}
	if p.Type == ProviderSim {
		v.add(path, "load_metrics is only for an openai provider: a sim provider runs inside Bulwark (route to a `bulwark sim` over HTTP to scrape one)")
		return
	}
	v.duration(path+".interval", l.Interval)
	v.duration(path+".timeout", l.Timeout)
	if l.Interval > 0 && l.Interval < Duration(100*time.Millisecond) {
		v.add(path+".interval", "interval %s is below 100ms", l.Interval)
	}
	if l.Interval > 0 && l.Timeout > l.Interval {
		v.add(path+".timeout", "timeout %s is longer than the interval %s", l.Timeout, l.Interval)
	}
	if l.URL == "" {
		if p.BaseURL != "" && l.MetricsURL(p.BaseURL) == "" {
			v.add(path+".url", "url is required: base_url gives no host to scrape")
		}
		return
	}
	u, err := url.Parse(l.URL)
	switch {
	case err != nil || strings.ContainsFunc(l.URL, isControl):
		v.add(path+".url", "url is not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		v.add(path+".url", "url must start with http:// or https://")
	case u.User != nil:
		v.add(path+".url", "url must not hold credentials")
	case u.Host == "" || u.Hostname() == "":
		v.add(path+".url", "url has no host")
	}
}
