package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoadMetricsConfigParsesAndValidates(t *testing.T) {
	good := `
disable_builtin_sim: true
providers:
  vllm:
    type: openai
    base_url: http://gpu-1:8000/v1
    load_metrics: {interval: 2s, timeout: 500ms}
  other:
    type: openai
    base_url: https://llm.internal/v1
    load_metrics: {url: "https://llm.internal:9090/metrics"}
  plain: {type: openai, base_url: "https://api.openai.com/v1"}
  s: {type: sim, models: {m: {kv_cache_tokens: 4096}}}
models:
  - name: chat
    balance: least_loaded
    targets: [{provider: vllm, model: m}, {provider: other, model: m}, {provider: s, model: m}]
`
	c, err := Parse([]byte(good), nil)
	if err != nil {
		t.Fatal(err)
	}
	v := c.Providers["vllm"].LoadMetrics
	if v == nil || v.Every() != 2*time.Second || v.TimeoutOrDefault() != 500*time.Millisecond {
		t.Fatalf("vllm load_metrics = %+v", v)
	}
	if got := v.MetricsURL(c.Providers["vllm"].BaseURL); got != "http://gpu-1:8000/metrics" {
		t.Errorf("default url = %q", got)
	}
	o := c.Providers["other"].LoadMetrics
	if got := o.MetricsURL(c.Providers["other"].BaseURL); got != "https://llm.internal:9090/metrics" {
		t.Errorf("explicit url = %q", got)
	}
	if o.Every() != DefaultLoadMetricsInterval || o.TimeoutOrDefault() != DefaultLoadMetricsTimeout {
		t.Errorf("defaults = %s, %s", o.Every(), o.TimeoutOrDefault())
	}
	if c.Providers["plain"].LoadMetrics != nil {
		t.Error("a provider without load_metrics scrapes")
	}
	if c.Providers["s"].SimModels["m"].KVCacheTokens != 4096 {
		t.Errorf("kv_cache_tokens = %d", c.Providers["s"].SimModels["m"].KVCacheTokens)
	}

	bad := `
disable_builtin_sim: true
providers:
  a:
    type: openai
    base_url: http://gpu-1:8000/v1
    load_metrics: {interval: 1s, timeout: 2s}
  b:
    type: openai
    base_url: http://gpu-2:8000/v1
    load_metrics: {url: "ftp://gpu-2/metrics", interval: 10ms}
  c:
    type: openai
    base_url: http://gpu-3:8000/v1
    load_metrics: {url: "http://user:pw@gpu-3/metrics"}
  s:
    type: sim
    load_metrics: {}
    models: {m: {kv_cache_tokens: -1}}
models:
  - name: chat
    balance: least_lodaed
    targets: [{provider: a, model: m}]
`
	_, err = Parse([]byte(bad), nil)
	if err == nil {
		t.Fatal("bad load_metrics config accepted")
	}
	for _, want := range [][2]string{
		{"providers.a.load_metrics.timeout", "timeout 2s is longer than the interval 1s"},
		{"providers.b.load_metrics.url", "url must start with http:// or https://"},
		{"providers.b.load_metrics.interval", "interval 10ms is below 100ms"},
		{"providers.c.load_metrics.url", "url must not hold credentials"},
		{"providers.s.load_metrics", "load_metrics is only for an openai provider"},
		{"providers.s.models.m.kv_cache_tokens", "must not be negative"},
		{"models[0].balance", `"least_lodaed" is not one of weighted, least_outstanding, peak_ewma, least_loaded (did you mean "least_loaded"?)`},
	} {
		found := false
		for line := range strings.SplitSeq(err.Error(), "\n") {
			if strings.Contains(line, want[0]+" (") && strings.Contains(line, want[1]) {
				found = true
			}
		}
		if !found {
			t.Errorf("problems lack %s: %s:\n%v", want[0], want[1], err)
		}
	}
	if strings.Contains(err.Error(), "pw") {
		t.Errorf("a credential in the url is repeated:\n%v", err)
	}
}
