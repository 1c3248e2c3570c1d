package telemetry

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

func known(names ...string) func(string) bool {
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	return func(s string) bool { return set[s] }
}

// sample returns the metric of family name whose labels include want, or
// nil.
func sample(t *testing.T, m *Metrics, name string, want map[string]string) *dto.Metric {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, mt := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range mt.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue metrics
				}
			}
			return mt
		}
	}
	return nil
}

func counterValue(t *testing.T, m *Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	s := sample(t, m, name, labels)
	if s == nil {
		t.Fatalf("%s%v: no such series", name, labels)
	}
	switch {
	case s.Counter != nil:
		return s.Counter.GetValue()
	case s.Gauge != nil:
		return s.Gauge.GetValue()
	case s.Histogram != nil:
		return float64(s.Histogram.GetSampleCount())
	}
	t.Fatalf("%s: unexpected type", name)
	return 0
}

func TestRecordRequestSuccess(t *testing.T) {
	m := NewMetrics(MetricsOptions{KnownAlias: known("gpt"), TenantLabel: true, NoProcessMetrics: true})
	m.RecordRequest(RequestRecord{
		Operation: OperationChat, Tenant: "acme", Alias: "gpt", Provider: "openai", Model: "gpt-4o",
		ResponseModel: "gpt-4o-2024", Status: 200, Duration: 2 * time.Second, Upstream: 1990 * time.Millisecond,
		TimeToFirstToken: 500 * time.Millisecond, InputTokens: 10, OutputTokens: 31, Attempts: 1,
	})
	if v := counterValue(t, m, "bulwark_requests_total", map[string]string{"alias": "gpt", "status": "200", "tenant": "acme", "provider": "openai", "model": "gpt-4o"}); v != 1 {
		t.Errorf("requests = %v", v)
	}
	if v := counterValue(t, m, "bulwark_tokens_total", map[string]string{"alias": "gpt", "type": "output"}); v != 31 {
		t.Errorf("output tokens = %v", v)
	}
	over := sample(t, m, "bulwark_overhead_seconds", map[string]string{"operation": "chat"})
	if got := over.GetHistogram().GetSampleSum(); got < 0.0099 || got > 0.0101 {
		t.Errorf("overhead sum = %v, want 0.01", got)
	}
	tpot := sample(t, m, "gen_ai_server_time_per_output_token_seconds", map[string]string{lRequestModel: "gpt", lResponseModel: "gpt-4o-2024"})
	if got := tpot.GetHistogram().GetSampleSum(); got < 0.0499 || got > 0.0501 {
		t.Errorf("time per output token = %v, want 0.05 (1.5s / 30)", got)
	}
	if v := counterValue(t, m, "gen_ai_server_time_to_first_token_seconds", map[string]string{lRequestModel: "gpt"}); v != 1 {
		t.Errorf("ttft samples = %v", v)
	}
}

func TestAttemptsRetriesFallbacks(t *testing.T) {
	m := NewMetrics(MetricsOptions{KnownAlias: known("gpt"), NoProcessMetrics: true})
	m.RecordAttempt(AttemptRecord{Operation: OperationChat, Alias: "gpt", Provider: "a", Model: "m", Number: 1, ErrorKind: "rate_limited", Duration: time.Millisecond})
	m.RecordAttempt(AttemptRecord{Operation: OperationChat, Alias: "gpt", Provider: "a", Model: "m", Number: 2, ErrorKind: "overloaded", Duration: time.Millisecond})
	m.RecordAttempt(AttemptRecord{Operation: OperationChat, Alias: "gpt", Provider: "b", Model: "n", Number: 3, Fallback: true, Duration: time.Second, InputTokens: 5, OutputTokens: 7})

	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"bulwark_attempts_total", map[string]string{"provider": "a", "outcome": "error"}, 2},
		{"bulwark_attempts_total", map[string]string{"provider": "b", "outcome": "success"}, 1},
		{"bulwark_retries_total", map[string]string{"provider": "a"}, 1},
		{"bulwark_retries_total", map[string]string{"provider": "b"}, 1},
		{"bulwark_fallbacks_total", map[string]string{"provider": "b", "model": "n"}, 1},
		{"bulwark_upstream_errors_total", map[string]string{"provider": "a", "kind": "rate_limited"}, 1},
		{"gen_ai_client_operation_duration_seconds", map[string]string{lProvider: "a", lErrorType: "overloaded"}, 1},
		{"gen_ai_client_token_usage", map[string]string{lProvider: "b", lTokenType: "input"}, 1},
	}
	for _, c := range checks {
		if got := counterValue(t, m, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if sample(t, m, "bulwark_fallbacks_total", map[string]string{"provider": "a"}) != nil {
		t.Error("a retry on the same target counted as a fallback")
	}
}

func TestAdmissionAndShed(t *testing.T) {
	m := NewMetrics(MetricsOptions{TenantLabel: true, NoProcessMetrics: true})
	m.RecordAdmission(AdmissionRecord{Class: "interactive", Tenant: "t1", Wait: 20 * time.Millisecond})
	m.RecordAdmission(AdmissionRecord{Class: "batch", Tenant: "t1", Wait: time.Second, Shed: true, Reason: "queue_full"})
	m.SetQueueDepth("batch", 4)
	m.SetAdaptiveLimit("global", 32, 7)
	m.RecordBreakerTransition("a", "m", BreakerOpen)
	if v := counterValue(t, m, "bulwark_shed_total", map[string]string{"class": "batch", "tenant": "t1", "reason": "queue_full"}); v != 1 {
		t.Errorf("shed = %v", v)
	}
	if v := counterValue(t, m, "bulwark_admitted_total", map[string]string{"class": "interactive"}); v != 1 {
		t.Errorf("admitted = %v", v)
	}
	if v := counterValue(t, m, "bulwark_queue_wait_seconds", map[string]string{"class": "batch"}); v != 1 {
		t.Errorf("queue wait samples = %v", v)
	}
	if v := counterValue(t, m, "bulwark_queue_depth", map[string]string{"class": "batch"}); v != 4 {
		t.Errorf("queue depth = %v", v)
	}
	if v := counterValue(t, m, "bulwark_adaptive_limit", map[string]string{"scope": "global"}); v != 32 {
		t.Errorf("limit = %v", v)
	}
	if v := counterValue(t, m, "bulwark_inflight", map[string]string{"scope": "global"}); v != 7 {
		t.Errorf("inflight = %v", v)
	}
	if v := counterValue(t, m, "bulwark_breaker_state", map[string]string{"provider": "a"}); v != 2 {
		t.Errorf("breaker state = %v", v)
	}
	if v := counterValue(t, m, "bulwark_breaker_transitions_total", map[string]string{"state": "open"}); v != 1 {
		t.Errorf("breaker transitions = %v", v)
	}
}

func TestCardinalityBounded(t *testing.T) {
	m := NewMetrics(MetricsOptions{KnownAlias: known("gpt"), TenantLabel: true, MaxTenants: 2, MaxResponseModels: 1, NoProcessMetrics: true})
	for _, a := range []string{"gpt", "x1", "x2", "x3"} {
		for _, tn := range []string{"t1", "t2", "t3", "t4"} {
			m.RecordRequest(RequestRecord{Operation: OperationChat, Alias: a, Tenant: tn, ResponseModel: a, Status: 404})
		}
	}
	if v := counterValue(t, m, "bulwark_requests_total", map[string]string{"alias": Other, "tenant": Other}); v != 6 {
		t.Errorf("unknown aliases and tenants beyond the cap = %v, want 6", v)
	}
	fams, _ := m.Registry().Gather()
	for _, f := range fams {
		if f.GetName() == "bulwark_requests_total" && len(f.GetMetric()) != 6 {
			t.Errorf("bulwark_requests_total has %d series, want 6 (2 aliases × 3 tenant values)", len(f.GetMetric()))
		}
	}
	if sample(t, m, "gen_ai_server_request_duration_seconds", map[string]string{lResponseModel: "x1"}) != nil {
		t.Error("response model beyond the cap was used as a label")
	}

	off := NewMetrics(MetricsOptions{KnownAlias: known("gpt"), NoProcessMetrics: true})
	off.RecordRequest(RequestRecord{Operation: OperationChat, Alias: "gpt", Tenant: "acme", Status: 200})
	if v := counterValue(t, off, "bulwark_requests_total", map[string]string{"tenant": ""}); v != 1 {
		t.Errorf("tenant label switched off: %v", v)
	}
}

func TestHandlerServesExposition(t *testing.T) {
	m := NewMetrics(MetricsOptions{})
	m.RecordHTTP("/v1/models", 200, time.Millisecond)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{`bulwark_http_requests_total{code="200",route="/v1/models"} 1`, "go_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func BenchmarkRecordRequest(b *testing.B) {
	m := NewMetrics(MetricsOptions{KnownAlias: known("gpt"), TenantLabel: true, NoProcessMetrics: true})
	r := RequestRecord{
		Operation: OperationChat, Tenant: "acme", Alias: "gpt", Provider: "openai", Model: "gpt-4o",
		ResponseModel: "gpt-4o-2024", Status: 200, Duration: 2 * time.Second, Upstream: time.Second,
		TimeToFirstToken: 300 * time.Millisecond, InputTokens: 10, OutputTokens: 30, Attempts: 1,
	}
	b.ReportAllocs()
	for b.Loop() {
		m.RecordRequest(r)
	}
}

func BenchmarkRecordAttempt(b *testing.B) {
	m := NewMetrics(MetricsOptions{KnownAlias: known("gpt"), NoProcessMetrics: true})
	a := AttemptRecord{Operation: OperationChat, Alias: "gpt", Provider: "openai", Model: "gpt-4o", ResponseModel: "gpt-4o-2024",
		Number: 1, Duration: time.Second, InputTokens: 10, OutputTokens: 30}
	b.ReportAllocs()
	for b.Loop() {
		m.RecordAttempt(a)
	}
}

func BenchmarkRecordRequestParallel(b *testing.B) {
	m := NewMetrics(MetricsOptions{KnownAlias: known("gpt"), TenantLabel: true, NoProcessMetrics: true})
	r := RequestRecord{Operation: OperationChat, Tenant: "acme", Alias: "gpt", Provider: "openai", Model: "gpt-4o",
		Status: 200, Duration: time.Second, OutputTokens: 30, TimeToFirstToken: time.Millisecond, Attempts: 1}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.RecordRequest(r)
		}
	})
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.RecordRequest(RequestRecord{Alias: "gpt"})
	m.RecordAttempt(AttemptRecord{Alias: "gpt"})
	m.RecordAdmission(AdmissionRecord{Shed: true})
	m.RecordBreakerTransition("p", "m", BreakerOpen)
	m.SetAdaptiveLimit("global", 1, 1)
	m.SetQueueDepth("c", 1)
	m.RecordHTTP("/", 200, 0)
}

func TestSetTargetsOnScrape(t *testing.T) {
	m := NewMetrics(MetricsOptions{NoProcessMetrics: true})
	targets := []TargetSample{{Provider: "a", Model: "m", Breaker: ParseBreakerState("open"), Inflight: 3}, {Provider: "b", Model: "n"}}
	m.OnScrape(func() { m.SetTargets(targets) })
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	body := scrape()
	for _, want := range []string{`bulwark_breaker_state{model="m",provider="a"} 2`, `bulwark_target_inflight{model="m",provider="a"} 3`, `bulwark_breaker_state{model="n",provider="b"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	targets = targets[1:] // a reload removed target a
	if body := scrape(); strings.Contains(body, `provider="a"`) {
		t.Error("a removed target is still exported")
	}
	if ParseBreakerState("half-open") != BreakerHalfOpen || ParseBreakerState("closed") != BreakerClosed {
		t.Error("ParseBreakerState")
	}
}
