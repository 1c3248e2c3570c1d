package config

import (
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Telemetry configures metrics, traces, drift detection and the request
// log. The zero value serves /metrics on the main listener, traces
// nothing unless OTEL_TRACES_EXPORTER=otlp is set, watches drift with the
// default window and keeps no request log.
type Telemetry struct {
	Metrics    Metrics    `yaml:"metrics" json:"metrics"`
	Tracing    Tracing    `yaml:"tracing" json:"tracing"`
	Drift      Drift      `yaml:"drift" json:"drift"`
	RequestLog RequestLog `yaml:"request_log" json:"request_log"`
}

// Metrics configures the Prometheus metrics. GET /metrics is always served
// on the main listener.
type Metrics struct {
	// Listen is an extra address serving only GET /metrics, and the
	// profiles when Pprof is on (e.g. 0.0.0.0:9090, for a scraper that
	// must not reach the API); empty means none.
	Listen string `yaml:"listen" json:"listen,omitempty"`
	// DisableTenantLabel drops the tenant label from request, token and
	// shed metrics, for deployments with many tenants.
	DisableTenantLabel bool `yaml:"disable_tenant_label" json:"disable_tenant_label,omitempty"`
	// MaxTenants caps the distinct tenant label values; later tenants are
	// labelled "other" (default 1000).
	MaxTenants int `yaml:"max_tenants" json:"max_tenants,omitempty"`
	// Pprof serves net/http/pprof's profiles under /debug/pprof/ on Listen,
	// which it needs: never on the main listener. Off by default.
	Pprof bool `yaml:"pprof" json:"pprof,omitempty"`
}

// Trace exporters.
const (
	TraceExporterHTTP = "http"
	TraceExporterGRPC = "grpc"
)

// Tracing configures OpenTelemetry traces. The standard OpenTelemetry
// environment variables fill what it leaves empty, as in any service
// built on the OpenTelemetry SDK; what it says wins.
type Tracing struct {
	// Enabled turns traces on. When false, they are on if
	// OTEL_TRACES_EXPORTER=otlp and OTEL_SDK_DISABLED is not true.
	Enabled bool `yaml:"enabled" json:"enabled"`
	// Exporter is http (OTLP over HTTP) or grpc (OTLP over gRPC); empty
	// means OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf or grpc), else http.
	Exporter string `yaml:"exporter" json:"exporter,omitempty"`
	// Endpoint is the collector as host:port or a URL
	// (http://collector:4318/v1/traces); empty means the exporter's default
	// (OTEL_EXPORTER_OTLP_ENDPOINT, else localhost).
	Endpoint string `yaml:"endpoint" json:"endpoint,omitempty"`
	// Insecure sends to a host:port endpoint without TLS.
	Insecure bool `yaml:"insecure" json:"insecure,omitempty"`
	// Headers are sent with every export (a tracing vendor's key). Write
	// secrets as ${ENV_VAR}; they never appear in logs or errors.
	Headers map[string]string `yaml:"headers" json:"-"`
	// SampleRatio is the share of new traces sampled, above 0 and at most
	// 1. A client's sampled flag in traceparent is honoured. Zero means
	// OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, else 1.
	SampleRatio float64 `yaml:"sample_ratio" json:"sample_ratio,omitempty"`
	// ServiceName names the resource; empty means OTEL_SERVICE_NAME, else
	// service.name in OTEL_RESOURCE_ATTRIBUTES, else bulwark.
	ServiceName string `yaml:"service_name" json:"service_name,omitempty"`
	// CaptureContent records prompt and completion text on spans. Off by
	// default: text may hold personal data.
	CaptureContent bool `yaml:"capture_content" json:"capture_content,omitempty"`
}

// Drift configures per-alias drift detection.
type Drift struct {
	// Disabled turns drift detection off.
	Disabled bool `yaml:"disabled" json:"disabled,omitempty"`
	// Window is the span of the rolling distributions compared with the
	// baseline, and of the baseline itself (default 1h, at least 1m).
	Window Duration `yaml:"window" json:"window"`
}

// RequestLog configures the per-request log kept in the store (package
// reqlog), queried through GET /admin/v1/requests. Off unless Enabled. Like
// the other telemetry settings, a change takes effect at the next start.
type RequestLog struct {
	Enabled bool `yaml:"enabled" json:"enabled"`
	// Retention is how long records are kept (default 168h, at least 1m).
	Retention Duration `yaml:"retention" json:"retention"`
	// CaptureContent keeps the prompt messages and the completion text,
	// with personal data and secrets masked. Off by default: text may hold
	// personal data the masking does not recognise.
	CaptureContent bool `yaml:"capture_content" json:"capture_content,omitempty"`
	// MaxContentBytes bounds the captured prompt and, separately, the
	// captured completion of a request (default 16384, at most 1 MiB).
	MaxContentBytes int `yaml:"max_content_bytes" json:"max_content_bytes,omitempty"`
}

// Request log defaults and bounds.
const (
	DefaultRequestLogRetention = Duration(168 * time.Hour)
	DefaultMaxContentBytes     = 16 << 10
	minRequestLogRetention     = Duration(time.Minute)
	maxContentBytes            = 1 << 20
)

// RetentionOrDefault returns Retention, or its default when zero.
func (r RequestLog) RetentionOrDefault() time.Duration {
	if r.Retention == 0 {
		return DefaultRequestLogRetention.D()
	}
	return r.Retention.D()
}

// ContentLimit returns MaxContentBytes, or its default when zero.
func (r RequestLog) ContentLimit() int {
	if r.MaxContentBytes == 0 {
		return DefaultMaxContentBytes
	}
	return r.MaxContentBytes
}

// Telemetry defaults.
const (
	DefaultMaxTenants  = 1000
	DefaultDriftWindow = Duration(time.Hour)
	minDriftWindow     = Duration(time.Minute)
)

// TenantCap returns MaxTenants, or its default when zero.
func (m Metrics) TenantCap() int {
	if m.MaxTenants == 0 {
		return DefaultMaxTenants
	}
	return m.MaxTenants
}

// WindowOrDefault returns Window, or its default when zero.
func (d Drift) WindowOrDefault() time.Duration {
	if d.Window == 0 {
		return DefaultDriftWindow.D()
	}
	return d.Window.D()
}

var traceExporters = []string{TraceExporterHTTP, TraceExporterGRPC}

// telemetry validates c.Telemetry.
func (v *validator) telemetry(c *Config) {
	t := c.Telemetry
	if t.Metrics.Listen != "" {
		v.hostPort("telemetry.metrics.listen", t.Metrics.Listen)
		if t.Metrics.Listen == c.Listen {
			v.add("telemetry.metrics.listen", "%q is the main listen address, which serves /metrics already; use another or leave it empty", t.Metrics.Listen)
		}
	}
	v.nonNegative("telemetry.metrics.max_tenants", int64(t.Metrics.MaxTenants))
	if t.Metrics.Pprof && t.Metrics.Listen == "" {
		v.add("telemetry.metrics.pprof", "needs telemetry.metrics.listen: profiles are never served on the main listener")
	}

	tr := t.Tracing
	v.oneOf("telemetry.tracing.exporter", tr.Exporter, traceExporters)
	if tr.Endpoint != "" {
		v.traceEndpoint("telemetry.tracing.endpoint", tr.Endpoint)
	}
	if tr.SampleRatio < 0 || tr.SampleRatio > 1 {
		v.add("telemetry.tracing.sample_ratio", "must be above 0 and at most 1, got %v", tr.SampleRatio)
	}
	names := make([]string, 0, len(tr.Headers))
	for h := range tr.Headers {
		names = append(names, h)
	}
	sort.Strings(names)
	for _, h := range names {
		hp := childKey("telemetry.tracing.headers", h)
		if !headerName.MatchString(h) {
			v.add(hp, "%q is not a valid HTTP header name", h)
		}
		if strings.ContainsFunc(tr.Headers[h], isControl) {
			// The value may be a secret: it is never repeated.
			v.add(hp, "the value has a control character (a newline from a secret file?)")
		}
	}

	v.duration("telemetry.drift.window", t.Drift.Window)
	if t.Drift.Window > 0 && t.Drift.Window < minDriftWindow {
		v.add("telemetry.drift.window", "must be at least %s, got %s", minDriftWindow, t.Drift.Window)
	}
	v.requestLog(t.RequestLog)
}

// requestLog validates telemetry.request_log.
func (v *validator) requestLog(r RequestLog) {
	v.duration("telemetry.request_log.retention", r.Retention)
	if r.Retention > 0 && r.Retention < minRequestLogRetention {
		v.add("telemetry.request_log.retention", "must be at least %s, got %s", minRequestLogRetention, r.Retention)
	}
	v.nonNegative("telemetry.request_log.max_content_bytes", int64(r.MaxContentBytes))
	if r.MaxContentBytes > maxContentBytes {
		v.add("telemetry.request_log.max_content_bytes", "must be at most %d, got %d", maxContentBytes, r.MaxContentBytes)
	}
}

func (v *validator) hostPort(path, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(path, "%q is not host:port (write it like 127.0.0.1:9090 or :9090)", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add(path, "port %q is not a number from 0 to 65535", port)
	}
}

func (v *validator) traceEndpoint(path, ep string) {
	if !strings.Contains(ep, "://") {
		v.hostPort(path, ep)
		return
	}
	u, err := url.Parse(ep)
	switch {
	case err != nil || strings.ContainsFunc(ep, isControl):
		v.add(path, "%q is not a valid URL", ep)
	case u.Scheme != "http" && u.Scheme != "https":
		v.add(path, "a URL endpoint must start with http:// or https://, or be host:port")
	case u.User != nil:
		v.add(path, "the endpoint URL must not hold credentials; send them in telemetry.tracing.headers")
	case u.Host == "":
		v.add(path, "%q has no host", ep)
	}
}
