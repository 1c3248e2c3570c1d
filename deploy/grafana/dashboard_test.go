package grafana

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/drift"
	"github.com/bulwark-ai/bulwark/telemetry"
)

// exported returns the names of the metric families a Bulwark exports,
// after touching every metric once.
func exported(t *testing.T) map[string]string {
	t.Helper()
	m := telemetry.NewMetrics(telemetry.MetricsOptions{KnownAlias: func(string) bool { return true }, TenantLabel: true})
	m.RecordRequest(telemetry.RequestRecord{Operation: telemetry.OperationChat, Tenant: "t", Alias: "a", Provider: "p", Model: "m",
		ResponseModel: "m", Status: 200, Duration: 2 * time.Second, Upstream: time.Second, TimeToFirstToken: time.Second,
		InputTokens: 3, OutputTokens: 4, Attempts: 2})
	m.RecordAttempt(telemetry.AttemptRecord{Operation: telemetry.OperationChat, Alias: "a", Provider: "p", Model: "m", Number: 2,
		Fallback: true, Duration: time.Second, ErrorKind: "timeout"})
	m.RecordAttempt(telemetry.AttemptRecord{Operation: telemetry.OperationChat, Alias: "a", Provider: "p", Model: "m", Number: 1,
		Duration: time.Second, InputTokens: 3, OutputTokens: 4})
	m.RecordBreakerTransition("p", "m", telemetry.BreakerOpen)
	m.SetTargets([]telemetry.TargetSample{{Provider: "p", Model: "m", Breaker: telemetry.BreakerOpen, Inflight: 1}})
	m.SetAdaptiveLimit("global", 10, 3)
	m.SetQueueDepth("interactive", 1)
	m.RecordAdmission(telemetry.AdmissionRecord{Class: "interactive", Tenant: "t", Wait: time.Millisecond})
	m.RecordAdmission(telemetry.AdmissionRecord{Class: "batch", Tenant: "t", Shed: true, Reason: "queue_full"})
	m.RecordHTTP("/v1/chat/completions", 200, time.Second)

	now := time.Unix(1_800_000_000, 0)
	d := drift.New(drift.Options{Window: time.Minute, MinSamples: 1, Now: func() time.Time { return now }})
	m.Registry().MustRegister(d)
	d.Observe(drift.Observation{Alias: "a", PromptTokens: 10, OutputTokens: 10, Latency: time.Second, FinishReason: "stop"})
	now = now.Add(time.Minute)
	d.Observe(drift.Observation{Alias: "a", PromptTokens: 10, OutputTokens: 10, Latency: time.Second, FinishReason: "stop"})

	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, f := range fams {
		types[f.GetName()] = f.GetType().String()
	}
	return types
}

// known reports whether a name in a query is an exported series: a family,
// or a histogram's _bucket, _sum or _count.
func known(types map[string]string, name string) bool {
	if _, ok := types[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && (types[base] == "HISTOGRAM" || types[base] == "SUMMARY") {
			return true
		}
	}
	return false
}

var (
	quoted    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	matchers  = regexp.MustCompile(`\{[^}]*\}`)
	ranges    = regexp.MustCompile(`\[[^\]]*\]`)
	grouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	ident     = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	labelVals = regexp.MustCompile(`label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,`)
	keywords  = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "le": true}
)

// metricNames returns the metric names a PromQL expression selects.
func metricNames(expr string) []string {
	s := quoted.ReplaceAllString(expr, `""`)
	s = matchers.ReplaceAllString(s, " ")
	s = ranges.ReplaceAllString(s, " ")
	s = grouping.ReplaceAllString(s, " ")
	var out []string
	for _, loc := range ident.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		rest := strings.TrimLeft(s[loc[1]:], " ")
		if strings.HasPrefix(rest, "(") || keywords[name] {
			continue // a function or an operator
		}
		if loc[0] > 0 && s[loc[0]-1] == '$' {
			continue // a dashboard variable
		}
		out = append(out, name)
	}
	return out
}

// queries walks the dashboard and returns every PromQL expression and
// template-variable query in it.
func queries(v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && (k == "expr" || (k == "query" && strings.Contains(s, "label_values("))) {
				*out = append(*out, s)
				continue
			}
			queries(val, out)
		}
	case []any:
		for _, val := range x {
			queries(val, out)
		}
	}
}

func TestDashboardQueriesNameExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("bulwark.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("bulwark.json is not JSON: %v", err)
	}
	var exprs []string
	queries(dash, &exprs)
	if len(exprs) < 20 {
		t.Fatalf("found %d queries; the walk is broken", len(exprs))
	}
	types := exported(t)
	if known(types, "bulwark_no_such_metric") || known(types, "bulwark_requests_total_bucket") {
		t.Fatal("known accepts a name Bulwark does not export")
	}
	used := map[string]bool{}
	for _, e := range exprs {
		var names []string
		if m := labelVals.FindStringSubmatch(e); m != nil {
			names = []string{m[1]}
		} else {
			names = metricNames(e)
		}
		if len(names) == 0 {
			t.Errorf("query names no metric: %s", e)
		}
		for _, n := range names {
			used[n] = true
			if !known(types, n) {
				t.Errorf("query names %q, which Bulwark does not export: %s", n, e)
			}
		}
	}
	// Every Bulwark and GenAI family is on the dashboard somewhere.
	var missing []string
	for name := range types {
		if !strings.HasPrefix(name, "bulwark_") && !strings.HasPrefix(name, "gen_ai_") {
			continue
		}
		if !used[name] && !used[name+"_bucket"] && !used[name+"_sum"] && !used[name+"_count"] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("exported but on no panel: %v", missing)
	}
}

func TestMetricNames(t *testing.T) {
	got := metricNames(`histogram_quantile(0.95, sum by (le, class) (rate(bulwark_queue_wait_seconds_bucket{alias=~"$alias",x="a b"}[$__rate_interval]))) / on(x) time() - go_goroutines and bool up`)
	want := []string{"bulwark_queue_wait_seconds_bucket", "go_goroutines", "up"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("metricNames = %v, want %v", got, want)
	}
}
