package telemetry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func newTestTracing(t *testing.T, content bool) (*Tracing, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return NewTracingFrom(tp, content), exp
}

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

func spanNamed(t *testing.T, spans tracetest.SpanStubs, name string) tracetest.SpanStub {
	t.Helper()
	for _, s := range spans {
		if s.Name == name {
			return s
		}
	}
	names := make([]string, len(spans))
	for i, s := range spans {
		names[i] = s.Name
	}
	t.Fatalf("no span %q among %v", name, names)
	return tracetest.SpanStub{}
}

// gatewayLike plays the part the gateway will: annotate the request span,
// run attempts, record the result.
type attemptPlan struct {
	provider, model string
	fallback        bool
	errKind         string
}

func serve(tr *Tracing, plan []attemptPlan, shed bool, upstream string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		SetRequest(ctx, RequestInfo{Operation: OperationChat, Alias: "gpt", Tenant: "acme"})
		if shed {
			SetAdmission(ctx, AdmissionInfo{Decision: DecisionShed, Class: "batch", Reason: "queue_full", QueueWait: 250 * time.Millisecond})
			SetRequestResult(ctx, RequestResult{ErrorType: "shed"})
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		SetAdmission(ctx, AdmissionInfo{Decision: DecisionAdmitted, Class: "interactive", QueueWait: time.Millisecond})
		for i, p := range plan {
			actx, span := StartAttempt(ctx, AttemptInfo{Operation: OperationChat, Alias: "gpt", Tenant: "acme",
				Provider: p.provider, ProviderName: "openai", Model: p.model, Number: i + 1, Fallback: p.fallback, BreakerState: "closed"})
			if upstream != "" {
				req, _ := http.NewRequestWithContext(actx, "POST", upstream, nil)
				resp, err := (&http.Client{Transport: Transport(nil)}).Do(req)
				if err == nil {
					resp.Body.Close()
				}
			}
			if p.errKind != "" {
				EndAttempt(span, AttemptResult{ErrorType: p.errKind, Err: errors.New("upstream said " + p.errKind)})
				continue
			}
			tr.RecordContent(span, `[{"role":"user","content":"secret prompt"}]`, `[{"role":"assistant"}]`)
			EndAttempt(span, AttemptResult{ResponseModel: p.model + "-2024", InputTokens: 12, OutputTokens: 34, FinishReasons: []string{"stop"}})
			SetRequestResult(ctx, RequestResult{Provider: p.provider, ResponseModel: p.model + "-2024", InputTokens: 12, OutputTokens: 34,
				FinishReasons: []string{"stop"}, Attempts: i + 1, Overhead: 2 * time.Millisecond})
			w.WriteHeader(http.StatusOK)
			return
		}
		SetRequestResult(ctx, RequestResult{ErrorType: plan[len(plan)-1].errKind, Attempts: len(plan)})
		w.WriteHeader(http.StatusBadGateway)
	})
}

const clientTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestSpansSuccessContinuesClientTrace(t *testing.T) {
	tr, exp := newTestTracing(t, false)
	var upstreamTP string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { upstreamTP = r.Header.Get("traceparent") }))
	defer up.Close()

	m := NewMetrics(MetricsOptions{NoProcessMetrics: true})
	mux := http.NewServeMux()
	mux.Handle("/v1/chat/completions", serve(tr, []attemptPlan{{provider: "a", model: "m"}}, false, up.URL))
	h := Middleware(m, tr, mux)
	req := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	req.Header.Set("traceparent", clientTraceparent)
	h.ServeHTTP(httptest.NewRecorder(), req)

	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want a server and an attempt span", len(spans))
	}
	srv := spanNamed(t, spans, "chat gpt")
	att := spanNamed(t, spans, "chat m")
	if srv.SpanKind != trace.SpanKindServer || att.SpanKind != trace.SpanKindClient {
		t.Errorf("kinds: server %v, attempt %v", srv.SpanKind, att.SpanKind)
	}
	if got := srv.SpanContext.TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("server span trace id %s: the client's trace was not continued", got)
	}
	if srv.Parent.SpanID().String() != "00f067aa0ba902b7" || !srv.Parent.IsRemote() {
		t.Errorf("server span parent = %v", srv.Parent)
	}
	if att.Parent.SpanID() != srv.SpanContext.SpanID() {
		t.Error("attempt span is not a child of the request span")
	}
	wantUp := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + att.SpanContext.SpanID().String() + "-01"
	if upstreamTP != wantUp {
		t.Errorf("upstream traceparent = %q, want %q", upstreamTP, wantUp)
	}
	sa := attrs(srv)
	for k, want := range map[attribute.Key]any{
		AttrOperationName: "chat", AttrRequestModel: "gpt", AttrResponseModel: "m-2024", AttrTenant: "acme",
		AttrAlias: "gpt", AttrShedDecision: DecisionAdmitted, AttrInputTokens: int64(12), AttrOutputTokens: int64(34),
		AttrAttempts: int64(1), "http.route": "/v1/chat/completions", "http.response.status_code": int64(200),
	} {
		if got := sa[k].AsInterface(); got != want {
			t.Errorf("server span %s = %v, want %v", k, got, want)
		}
	}
	if got := sa[AttrFinishReasons].AsStringSlice(); !slices.Equal(got, []string{"stop"}) {
		t.Errorf("finish reasons = %v", got)
	}
	aa := attrs(att)
	for k, want := range map[attribute.Key]any{
		AttrOperationName: "chat", AttrProviderName: "openai", AttrProvider: "a", AttrRequestModel: "m",
		AttrResponseModel: "m-2024", AttrAttempt: int64(1), AttrFallback: false, AttrBreakerState: "closed",
	} {
		if got := aa[k].AsInterface(); got != want {
			t.Errorf("attempt span %s = %v, want %v", k, got, want)
		}
	}
	for _, s := range spans {
		for _, kv := range s.Attributes {
			if strings.Contains(kv.Value.Emit(), "secret prompt") {
				t.Errorf("span %q recorded content with capture off", s.Name)
			}
		}
	}
	if v := counterValue(t, m, "bulwark_http_requests_total", map[string]string{"route": "/v1/chat/completions", "code": "200"}); v != 1 {
		t.Errorf("http requests = %v", v)
	}
}

func TestSpansRetryAndFallback(t *testing.T) {
	tr, exp := newTestTracing(t, true)
	plan := []attemptPlan{{provider: "a", model: "m", errKind: "rate_limited"}, {provider: "a", model: "m", errKind: "overloaded"}, {provider: "b", model: "n", fallback: true}}
	Middleware(nil, tr, serve(tr, plan, false, "")).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/v1/chat/completions", nil))
	spans := exp.GetSpans()
	if len(spans) != 4 {
		t.Fatalf("got %d spans, want 1 request + 3 attempts", len(spans))
	}
	var attempts []tracetest.SpanStub
	for _, s := range spans {
		if s.SpanKind == trace.SpanKindClient {
			attempts = append(attempts, s)
		}
	}
	for i, want := range []struct {
		errType  string
		fallback bool
	}{{"rate_limited", false}, {"overloaded", false}, {"", true}} {
		a := attrs(attempts[i])
		if a[AttrAttempt].AsInt64() != int64(i+1) || a[AttrErrorType].AsString() != want.errType || a[AttrFallback].AsBool() != want.fallback {
			t.Errorf("attempt %d: attempt=%v error.type=%q fallback=%v", i+1, a[AttrAttempt].AsInt64(), a[AttrErrorType].AsString(), a[AttrFallback].AsBool())
		}
		if (want.errType != "") != (attempts[i].Status.Code == codes.Error) {
			t.Errorf("attempt %d status %v", i+1, attempts[i].Status)
		}
	}
	if got := attrs(attempts[2])[AttrInputMessages].AsString(); !strings.Contains(got, "secret prompt") {
		t.Errorf("content capture on: input messages = %q", got)
	}
	if got := attrs(spanNamed(t, spans, "chat gpt"))[AttrAttempts].AsInt64(); got != 3 {
		t.Errorf("request attempts = %d", got)
	}
}

func TestSpansShed(t *testing.T) {
	tr, exp := newTestTracing(t, false)
	Middleware(nil, tr, serve(tr, nil, true, "")).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/v1/chat/completions", nil))
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want the request span alone", len(spans))
	}
	a := attrs(spans[0])
	if a[AttrShedDecision].AsString() != DecisionShed || a[AttrShedClass].AsString() != "batch" ||
		a[AttrShedReason].AsString() != "queue_full" || a[AttrQueueWait].AsFloat64() != 250 || a[AttrErrorType].AsString() != "shed" {
		t.Errorf("shed span attributes: %v", spans[0].Attributes)
	}
}

func TestDisabledTracingPassesTraceContextOn(t *testing.T) {
	var upstreamTP string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { upstreamTP = r.Header.Get("traceparent") }))
	defer up.Close()
	tr := DisabledTracing()
	req := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	req.Header.Set("traceparent", clientTraceparent)
	Middleware(nil, tr, serve(tr, []attemptPlan{{provider: "a", model: "m"}}, false, up.URL)).ServeHTTP(httptest.NewRecorder(), req)
	if upstreamTP != clientTraceparent {
		t.Errorf("upstream traceparent = %q, want the client's %q", upstreamTP, clientTraceparent)
	}
	// Without a client trace nothing is sent.
	upstreamTP = "unset"
	Middleware(nil, tr, serve(tr, []attemptPlan{{provider: "a", model: "m"}}, false, up.URL)).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/", nil))
	if upstreamTP != "" {
		t.Errorf("upstream traceparent = %q with no trace", upstreamTP)
	}
}

func TestNewTracingExporters(t *testing.T) {
	for _, o := range []TracingOptions{
		{Exporter: ExporterHTTP, Endpoint: "127.0.0.1:1", Insecure: true, SampleRatio: 1, Headers: map[string]string{"x-key": "k"}},
		{Exporter: ExporterHTTP, Endpoint: "http://127.0.0.1:1/v1/traces", SampleRatio: 0.5},
		{Exporter: ExporterGRPC, Endpoint: "127.0.0.1:1", Insecure: true},
	} {
		tr, err := NewTracing(context.Background(), o)
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = tr.Close(ctx)
		cancel()
	}
	if _, err := NewTracing(context.Background(), TracingOptions{Exporter: "zipkin"}); err == nil {
		t.Error("unknown exporter accepted")
	}
}

func TestProbesAreNotTraced(t *testing.T) {
	tr, exp := newTestTracing(t, false)
	m := NewMetrics(MetricsOptions{NoProcessMetrics: true})
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(http.ResponseWriter, *http.Request) {})
	Middleware(m, tr, mux).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("a health probe made %d spans", n)
	}
	if v := counterValue(t, m, "bulwark_http_requests_total", map[string]string{"route": "/healthz"}); v != 1 {
		t.Errorf("health probe not counted: %v", v)
	}
}

func TestMiddlewareFlushes(t *testing.T) {
	h := Middleware(nil, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush: %v", err)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !rec.Flushed {
		t.Error("not flushed through the middleware")
	}
}

func BenchmarkSpanHelpersDisabled(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		SetRequest(ctx, RequestInfo{Operation: OperationChat, Alias: "gpt", Tenant: "acme"})
		actx, span := StartAttempt(ctx, AttemptInfo{Operation: OperationChat, Model: "m", Number: 1})
		_ = actx
		EndAttempt(span, AttemptResult{InputTokens: 1, OutputTokens: 2})
		SetRequestResult(ctx, RequestResult{InputTokens: 1})
	}
}
