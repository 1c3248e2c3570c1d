package config

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTelemetryParse(t *testing.T) {
	c, err := Parse([]byte(`
telemetry:
  metrics:
    listen: 127.0.0.1:9090
    disable_tenant_label: true
  tracing:
    enabled: true
    exporter: grpc
    endpoint: collector:4317
    insecure: true
    sample_ratio: 0.25
    headers:
      x-api-key: ${TRACE_KEY}
  drift:
    window: 30m
`), func(k string) (string, bool) { return "s3cret", k == "TRACE_KEY" })
	if err != nil {
		t.Fatal(err)
	}
	tl := c.Telemetry
	if tl.Metrics.Listen != "127.0.0.1:9090" || !tl.Metrics.DisableTenantLabel || tl.Metrics.TenantCap() != DefaultMaxTenants {
		t.Errorf("metrics = %+v", tl.Metrics)
	}
	if !tl.Tracing.Enabled || tl.Tracing.Exporter != "grpc" || tl.Tracing.SampleRatio != 0.25 || tl.Tracing.Headers["x-api-key"] != "s3cret" || tl.Tracing.ServiceName != "" {
		t.Errorf("tracing = %+v", tl.Tracing)
	}
	if tl.Drift.WindowOrDefault() != 30*time.Minute {
		t.Errorf("drift window = %v", tl.Drift.WindowOrDefault())
	}
	d := Default().Telemetry
	if d.Tracing.Enabled || d.Tracing.SampleRatio != 0 || d.Drift.WindowOrDefault() != time.Hour || d.Metrics.Listen != "" {
		t.Errorf("defaults = %+v", d)
	}
}

func TestTelemetryValidate(t *testing.T) {
	_, err := Parse([]byte(`listen: 127.0.0.1:8080
telemetry:
  metrics:
    listen: 127.0.0.1:8080
    max_tenants: -1
  tracing:
    exporter: zipkn
    endpoint: ftp://collector
    sample_ratio: 1.5
    headers:
      "bad header": x
  drift:
    window: 10s
  unknwn: 1
`), nil)
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("err = %v", err)
	}
	got := err.Error()
	for _, want := range []string{
		"telemetry.metrics.listen (line 4): \"127.0.0.1:8080\" is the main listen address",
		"telemetry.metrics.max_tenants (line 5): must not be negative",
		"telemetry.tracing.exporter (line 7): \"zipkn\" is not one of http, grpc",
		"telemetry.tracing.endpoint (line 8): a URL endpoint must start with http://",
		"telemetry.tracing.sample_ratio (line 9): must be above 0 and at most 1",
		`telemetry.tracing.headers["bad header"] (line 11)`,
		"telemetry.drift.window (line 13): must be at least 1m0s",
		"telemetry.unknwn (line 14): unknown field",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
}

func TestTelemetryHeadersNotInJSON(t *testing.T) {
	c := Default()
	c.Telemetry.Tracing.Headers = map[string]string{"x-api-key": "s3cret"}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "s3cret") {
		t.Error("a tracing header value appears in the JSON form")
	}
}

func TestTelemetryPprof(t *testing.T) {
	c, err := Parse([]byte("telemetry:\n  metrics: {listen: 127.0.0.1:9090, pprof: true}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Telemetry.Metrics.Pprof {
		t.Error("telemetry.metrics.pprof not read")
	}
	if Default().Telemetry.Metrics.Pprof {
		t.Error("profiles are served by default")
	}
	// Never on the main listener: without a metrics listener it is an error.
	_, err = Parse([]byte("telemetry:\n  metrics: {pprof: true}\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "telemetry.metrics.pprof (line 2): needs telemetry.metrics.listen") {
		t.Errorf("pprof without a metrics listener: %v", err)
	}
}
