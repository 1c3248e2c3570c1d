package telemetry

import (
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Middleware is the outermost layer of Bulwark's HTTP handler. For every
// request it continues the client's W3C trace context, starts the server
// span that SetRequest and SetRequestResult annotate and StartAttempt
// parents, and records bulwark_http_requests_total and
// bulwark_http_request_duration_seconds by the route pattern next matched
// (net/http.Request.Pattern; "unmatched" when none). Health, readiness and
// metrics scrapes get no span. m or t may be nil.
func Middleware(m *Metrics, t *Tracing, next http.Handler) http.Handler {
	if t == nil {
		t = DisabledTracing()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx := Extract(r.Context(), r.Header)
		tracer := t.tracer
		if untraced[r.URL.Path] {
			tracer = noopTracer
		}
		ctx, span := tracer.Start(ctx, r.Method,
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				attribute.String("http.request.method", r.Method),
				attribute.String("url.path", r.URL.Path),
			))
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(ctx)
		defer func() {
			// Runs on a panic too (api's recover re-panics
			// http.ErrAbortHandler), so the span always ends.
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			if m != nil {
				m.RecordHTTP(route, status, time.Since(start))
			}
			if span.IsRecording() {
				span.SetAttributes(
					attribute.String("http.route", route),
					attribute.Int("http.response.status_code", status),
				)
				if status >= 500 {
					span.SetStatus(codes.Error, http.StatusText(status))
				}
			}
			span.End()
		}()
		next.ServeHTTP(sw, r)
	})
}

// untraced are the paths probes and scrapers call every few seconds.
var untraced = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

var noopTracer = noop.NewTracerProvider().Tracer(instrumentation)

// statusWriter remembers the status written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets streaming handlers flush through the writer.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
