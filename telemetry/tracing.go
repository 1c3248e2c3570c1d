package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Exporters of TracingOptions.
const (
	ExporterHTTP = "http" // OTLP over HTTP/protobuf
	ExporterGRPC = "grpc" // OTLP over gRPC
)

// TracingOptions configure an exporting Tracing.
type TracingOptions struct {
	// Exporter is ExporterHTTP or ExporterGRPC; empty means the one
	// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL,
	// names (http/protobuf or grpc), else ExporterHTTP.
	Exporter string
	// Endpoint is host:port or a URL (http://collector:4318/v1/traces);
	// empty means the exporter's default (OTEL_EXPORTER_OTLP_ENDPOINT, else
	// localhost).
	Endpoint string
	// Insecure sends without TLS when Endpoint is host:port.
	Insecure bool
	// Headers are sent with every export (an API key of a tracing vendor).
	Headers map[string]string
	// SampleRatio is the share of new traces sampled, at most 1; a
	// client's sampled flag in traceparent is honoured. Zero means the
	// sampler OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG name, else
	// every new trace.
	SampleRatio float64
	// ServiceName and ServiceVersion name the resource. They win over
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, which win over the
	// default service name "bulwark".
	ServiceName    string
	ServiceVersion string
	// CaptureContent records prompt and completion text on spans. Off by
	// default; text may hold personal data.
	CaptureContent bool
	// ExportTimeout bounds one export (default OTEL_EXPORTER_OTLP_TIMEOUT,
	// else 10s).
	ExportTimeout time.Duration
}

// Tracing creates Bulwark's spans. A Tracing made by DisabledTracing
// records nothing but still continues and passes on a client's trace
// context. It is safe for concurrent use.
type Tracing struct {
	provider trace.TracerProvider
	tracer   trace.Tracer
	sdk      *sdktrace.TracerProvider // nil unless NewTracing built it
	content  bool
}

// instrumentation is the name of Bulwark's tracer.
const instrumentation = "github.com/bulwark-ai/bulwark"

// NewTracing returns a Tracing that exports over OTLP. What o leaves
// empty is taken from the standard OpenTelemetry environment variables
// (otelenv.go). Close flushes and stops it.
func NewTracing(ctx context.Context, o TracingOptions) (*Tracing, error) {
	sampler, err := newSampler(o)
	if err != nil {
		return nil, err
	}
	res, err := newResource(ctx, o)
	if err != nil {
		return nil, err
	}
	exp, err := newExporter(ctx, o)
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sampler),
		sdktrace.WithResource(res),
	)
	t := NewTracingFrom(tp, o.CaptureContent)
	t.sdk = tp
	return t, nil
}

func newExporter(ctx context.Context, o TracingOptions) (sdktrace.SpanExporter, error) {
	exporter := o.Exporter
	if exporter == "" {
		var err error
		if exporter, err = envExporter(); err != nil {
			return nil, err
		}
	}
	isURL := strings.Contains(o.Endpoint, "://")
	switch exporter {
	case ExporterHTTP:
		var opts []otlptracehttp.Option
		if o.ExportTimeout > 0 {
			opts = append(opts, otlptracehttp.WithTimeout(o.ExportTimeout))
		}
		switch {
		case isURL:
			opts = append(opts, otlptracehttp.WithEndpointURL(o.Endpoint))
		case o.Endpoint != "":
			opts = append(opts, otlptracehttp.WithEndpoint(o.Endpoint))
		}
		if o.Insecure && !isURL {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		if len(o.Headers) > 0 {
			opts = append(opts, otlptracehttp.WithHeaders(o.Headers))
		}
		exp, err := otlptracehttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("create OTLP/HTTP trace exporter: %w", err)
		}
		return exp, nil
	case ExporterGRPC:
		var opts []otlptracegrpc.Option
		if o.ExportTimeout > 0 {
			opts = append(opts, otlptracegrpc.WithTimeout(o.ExportTimeout))
		}
		switch {
		case isURL:
			opts = append(opts, otlptracegrpc.WithEndpointURL(o.Endpoint))
		case o.Endpoint != "":
			opts = append(opts, otlptracegrpc.WithEndpoint(o.Endpoint))
		}
		if o.Insecure && !isURL {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		if len(o.Headers) > 0 {
			opts = append(opts, otlptracegrpc.WithHeaders(o.Headers))
		}
		exp, err := otlptracegrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("create OTLP/gRPC trace exporter: %w", err)
		}
		return exp, nil
	}
	return nil, fmt.Errorf("unknown trace exporter %q: want %s or %s", o.Exporter, ExporterHTTP, ExporterGRPC)
}

// NewTracingFrom returns a Tracing creating spans with tp (tests pass an
// SDK provider with an in-memory exporter). Close does not stop tp.
func NewTracingFrom(tp trace.TracerProvider, captureContent bool) *Tracing {
	return &Tracing{provider: tp, tracer: tp.Tracer(instrumentation), content: captureContent}
}

// DisabledTracing returns a Tracing that records no span.
func DisabledTracing() *Tracing {
	return NewTracingFrom(noop.NewTracerProvider(), false)
}

// Tracer returns Bulwark's tracer.
func (t *Tracing) Tracer() trace.Tracer { return t.tracer }

// CaptureContent reports whether prompt and completion text may be
// recorded on spans.
func (t *Tracing) CaptureContent() bool { return t.content }

// Close flushes the spans not yet exported and stops the exporter, within
// ctx. It is a no-op for a Tracing it did not build.
func (t *Tracing) Close(ctx context.Context) error {
	if t.sdk == nil {
		return nil
	}
	if err := t.sdk.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("stop tracing: %w", err)
	}
	return nil
}

// propagator carries W3C trace context (traceparent, tracestate). Baggage
// is deliberately not propagated: a client's baggage is not passed to
// upstream vendors.
var propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Extract returns ctx carrying the remote span context of a client's
// traceparent header, if h holds a valid one.
func Extract(ctx context.Context, h http.Header) context.Context {
	return propagator.Extract(ctx, propagation.HeaderCarrier(h))
}

// Inject sets traceparent (and tracestate) in h from the span in ctx, so
// that an upstream continues the trace. It sets nothing when ctx carries
// no valid span context.
func Inject(ctx context.Context, h http.Header) {
	propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// Transport returns a RoundTripper that injects the trace context of each
// request's context into its headers before sending it with base (nil
// means http.DefaultTransport). Wrap an upstream client's transport in it.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return injectingTransport{base: base}
}

type injectingTransport struct{ base http.RoundTripper }

func (t injectingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !trace.SpanContextFromContext(r.Context()).IsValid() {
		return t.base.RoundTrip(r)
	}
	// A RoundTripper must not modify the request it was given.
	r2 := r.Clone(r.Context())
	Inject(r2.Context(), r2.Header)
	return t.base.RoundTrip(r2)
}
