package chaos_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/drift"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/shed"
	"github.com/bulwark-ai/bulwark/telemetry"
	"github.com/bulwark-ai/bulwark/tenant"
)

// observedEnv is an env whose gateway records into fresh metrics, an
// in-memory span exporter and a drift detector, served behind
// telemetry.Middleware as in the app.
type observedEnv struct {
	*env
	metrics *telemetry.Metrics
	spans   *tracetest.InMemoryExporter
	drift   *drift.Detector
	handler http.Handler
}

func newObserved(t *testing.T, yaml string, opts ...func(*gateway.Options)) *observedEnv {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	o := &observedEnv{
		metrics: telemetry.NewMetrics(telemetry.MetricsOptions{TenantLabel: true, NoProcessMetrics: true,
			KnownAlias: func(a string) bool { return a == "chat" || a == "backup" || a == "alone" }}),
		spans: exp,
		drift: drift.New(drift.Options{}),
	}
	gopts := gateway.Options{
		Metrics: o.metrics,
		Drift:   o.drift,
		Status:  func(err error) int { return api.AsError(err).Status },
	}
	for _, f := range opts {
		f(&gopts)
	}
	o.env = newObservedEnv(t, yaml, gopts)
	chat := o.api.Routes()["POST /v1/chat/completions"]
	o.handler = telemetry.Middleware(o.metrics, telemetry.NewTracingFrom(tp, false),
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			chat(w, r, tenant.Principal{TenantID: "acme"})
		}))
	return o
}

// clientTrace is the traceparent the client sends; every span continues it.
const clientTrace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// post sends a chat completion request through the middleware and the API
// handler and returns the status.
func (o *observedEnv) post(alias string, stream bool) int {
	o.t.Helper()
	body := `{"model":"` + alias + `","messages":[{"role":"user","content":"hello there"}]`
	if stream {
		body += `,"stream":true,"stream_options":{"include_usage":true}`
	}
	r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body+"}"))
	r.Header.Set("traceparent", clientTrace)
	w := httptest.NewRecorder()
	o.handler.ServeHTTP(w, r)
	return w.Code
}

// server returns the request's server span and its attempts' client
// spans, in the order they ended.
func (o *observedEnv) server() (tracetest.SpanStub, []tracetest.SpanStub) {
	o.t.Helper()
	var srv []tracetest.SpanStub
	var attempts []tracetest.SpanStub
	for _, s := range o.spans.GetSpans() {
		switch s.SpanKind {
		case trace.SpanKindServer:
			srv = append(srv, s)
		case trace.SpanKindClient:
			attempts = append(attempts, s)
		}
	}
	if len(srv) != 1 {
		o.t.Fatalf("%d server spans, want 1", len(srv))
	}
	s := srv[0]
	if got := s.SpanContext.TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		o.t.Errorf("server span trace %s: the client's traceparent was not continued", got)
	}
	for _, a := range attempts {
		if a.Parent.SpanID() != s.SpanContext.SpanID() {
			o.t.Errorf("attempt span %q is not a child of the request span", a.Name)
		}
	}
	return s, attempts
}

// wantAttrs checks span's attributes.
func wantAttrs(t *testing.T, s tracetest.SpanStub, want map[attribute.Key]any) {
	t.Helper()
	got := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		got[kv.Key] = kv.Value
	}
	for k, w := range want {
		v, ok := got[k]
		if !ok {
			t.Errorf("span %q lacks %s", s.Name, k)
			continue
		}
		if v.AsInterface() != w {
			t.Errorf("span %q: %s = %v, want %v", s.Name, k, v.AsInterface(), w)
		}
	}
}

// counter is the value of the counter name with exactly labels.
func (o *observedEnv) counter(name string, labels ...string) float64 {
	o.t.Helper()
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	fams, err := o.metrics.Registry().Gather()
	if err != nil {
		o.t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := want[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// histCount is how many observations the histogram name holds over all its
// series.
func (o *observedEnv) histCount(name string) uint64 {
	o.t.Helper()
	fams, err := o.metrics.Registry().Gather()
	if err != nil {
		o.t.Fatal(err)
	}
	var n uint64
	for _, f := range fams {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

func TestObservedSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := newObserved(t, twoSims)
		if code := o.post("chat", false); code != 200 {
			t.Fatalf("status %d", code)
		}
		srv, attempts := o.server()
		if srv.Name != "chat chat" {
			t.Errorf("server span named %q", srv.Name)
		}
		wantAttrs(t, srv, map[attribute.Key]any{
			telemetry.AttrOperationName: "chat",
			telemetry.AttrRequestModel:  "chat",
			telemetry.AttrAlias:         "chat",
			telemetry.AttrTenant:        "acme",
			telemetry.AttrResponseModel: "m-a",
			telemetry.AttrOutputTokens:  int64(8),
			telemetry.AttrAttempts:      int64(1),
			telemetry.AttrProvider:      "a",
		})
		if len(attempts) != 1 {
			t.Fatalf("%d attempt spans, want 1", len(attempts))
		}
		a := attempts[0]
		if a.Name != "chat m-a" || a.Status.Code == codes.Error {
			t.Errorf("attempt span %q status %v", a.Name, a.Status)
		}
		wantAttrs(t, a, map[attribute.Key]any{
			telemetry.AttrOperationName: "chat",
			telemetry.AttrProviderName:  "a",
			telemetry.AttrRequestModel:  "m-a",
			telemetry.AttrResponseModel: "m-a",
			telemetry.AttrOutputTokens:  int64(8),
			telemetry.AttrAttempt:       int64(1),
			telemetry.AttrFallback:      false,
			telemetry.AttrBreakerState:  "closed",
			telemetry.AttrAlias:         "chat",
			telemetry.AttrTenant:        "acme",
		})

		for _, c := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"bulwark_requests_total", []string{"operation", "chat", "alias", "chat", "provider", "a", "model", "m-a", "status", "200", "tenant", "acme"}, 1},
			{"bulwark_attempts_total", []string{"alias", "chat", "provider", "a", "model", "m-a", "outcome", "success"}, 1},
			{"bulwark_tokens_total", []string{"alias", "chat", "tenant", "acme", "type", "output"}, 8},
			{"bulwark_retries_total", nil, 0},
			{"bulwark_fallbacks_total", nil, 0},
			{"bulwark_upstream_errors_total", nil, 0},
		} {
			if got := o.counter(c.name, c.labels...); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
		}
		for name, want := range map[string]uint64{
			"gen_ai_client_operation_duration_seconds":  1,
			"gen_ai_client_token_usage":                 2, // input and output
			"gen_ai_server_request_duration_seconds":    1,
			"gen_ai_server_time_to_first_token_seconds": 1,
			"bulwark_overhead_seconds":                  1,
			"bulwark_request_attempts":                  1,
		} {
			if got := o.histCount(name); got != want {
				t.Errorf("%s holds %d observations, want %d", name, got, want)
			}
		}
		if rep, ok := o.drift.Report("chat"); !ok || rep.CurrentSamples != 1 {
			t.Errorf("drift report %+v, %v: want the request observed", rep, ok)
		}
	})
}

// A 429 with a Retry-After on an alias with nowhere else to go: the
// target cools down and is retried after the wait.
func TestObservedRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := newObserved(t, twoSims)
		o.faults("a", "m-a", http429(2*time.Second))
		healAfterFirst(o.env)
		if code := o.post("alone", false); code != 200 {
			t.Fatalf("status %d", code)
		}
		srv, attempts := o.server()
		wantAttrs(t, srv, map[attribute.Key]any{telemetry.AttrAttempts: int64(2), telemetry.AttrProvider: "a"})
		if len(attempts) != 2 {
			t.Fatalf("%d attempt spans, want 2", len(attempts))
		}
		wantAttrs(t, attempts[0], map[attribute.Key]any{
			telemetry.AttrAttempt:   int64(1),
			telemetry.AttrFallback:  false,
			telemetry.AttrErrorType: "rate_limited",
			telemetry.AttrCooldown:  2000.0,
		})
		if attempts[0].Status.Code != codes.Error {
			t.Errorf("failed attempt span status %v", attempts[0].Status)
		}
		wantAttrs(t, attempts[1], map[attribute.Key]any{
			telemetry.AttrAttempt:  int64(2),
			telemetry.AttrFallback: false,
		})
		if attempts[1].Status.Code == codes.Error {
			t.Errorf("successful retry span status %v", attempts[1].Status)
		}

		for _, c := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"bulwark_attempts_total", []string{"alias", "alone", "provider", "a", "model", "m-a", "outcome", "error"}, 1},
			{"bulwark_attempts_total", []string{"alias", "alone", "provider", "a", "model", "m-a", "outcome", "success"}, 1},
			{"bulwark_retries_total", []string{"alias", "alone", "provider", "a", "model", "m-a"}, 1},
			{"bulwark_fallbacks_total", nil, 0},
			{"bulwark_upstream_errors_total", []string{"provider", "a", "model", "m-a", "kind", "rate_limited"}, 1},
			{"bulwark_target_cooldowns_total", []string{"provider", "a", "model", "m-a", "kind", "rate_limited"}, 1},
			{"bulwark_requests_total", []string{"alias", "alone", "provider", "a", "status", "200"}, 1},
		} {
			if got := o.counter(c.name, c.labels...); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
		}
		if got := o.histCount("gen_ai_client_operation_duration_seconds"); got != 2 {
			t.Errorf("operation duration holds %d attempts, want 2", got)
		}
	})
}

func TestObservedFallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := newObserved(t, twoSims)
		o.faults("a", "m-a", status(401)) // auth: a is excluded at once
		if code := o.post("chat", false); code != 200 {
			t.Fatalf("status %d", code)
		}
		srv, attempts := o.server()
		wantAttrs(t, srv, map[attribute.Key]any{
			telemetry.AttrAttempts:      int64(2),
			telemetry.AttrProvider:      "b",
			telemetry.AttrResponseModel: "m-b",
			telemetry.AttrAlias:         "chat",
		})
		if len(attempts) != 2 {
			t.Fatalf("%d attempt spans, want 2", len(attempts))
		}
		wantAttrs(t, attempts[0], map[attribute.Key]any{
			telemetry.AttrAttempt:   int64(1),
			telemetry.AttrFallback:  false,
			telemetry.AttrAlias:     "chat",
			telemetry.AttrErrorType: "authentication",
		})
		wantAttrs(t, attempts[1], map[attribute.Key]any{
			telemetry.AttrAttempt:      int64(2),
			telemetry.AttrFallback:     true,
			telemetry.AttrAlias:        "backup",
			telemetry.AttrProviderName: "b",
			telemetry.AttrRequestModel: "m-b",
		})

		for _, c := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"bulwark_fallbacks_total", []string{"alias", "backup", "provider", "b", "model", "m-b"}, 1},
			{"bulwark_upstream_errors_total", []string{"provider", "a", "model", "m-a", "kind", "authentication"}, 1},
			{"bulwark_attempts_total", []string{"alias", "backup", "provider", "b", "model", "m-b", "outcome", "success"}, 1},
			// The request is the alias the client asked for, served by b.
			{"bulwark_requests_total", []string{"alias", "chat", "provider", "b", "model", "m-b", "status", "200"}, 1},
		} {
			if got := o.counter(c.name, c.labels...); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
		}
	})
}

func TestObservedFailureRecordsStatusAndErrorType(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := newObserved(t, twoSims)
		o.faults("a", "m-a", status(401))
		if code := o.post("alone", false); code != http.StatusBadGateway {
			t.Fatalf("status %d, want 502", code)
		}
		srv, _ := o.server()
		wantAttrs(t, srv, map[attribute.Key]any{telemetry.AttrErrorType: "authentication", telemetry.AttrAttempts: int64(1)})
		if srv.Status.Code != codes.Error {
			t.Errorf("failed request span status %v", srv.Status)
		}
		if got := o.counter("bulwark_requests_total", "alias", "alone", "status", "502", "provider", "a"); got != 1 {
			t.Errorf("bulwark_requests_total{alone,502} = %v, want 1", got)
		}
		if rep, ok := o.drift.Report("alone"); !ok || rep.CurrentSamples != 1 {
			t.Errorf("drift report %+v, %v: want the failed request observed", rep, ok)
		}
	})
}

// pacedSim streams 8 tokens, 100ms to the first and 10ms between the
// others.
const pacedSim = `
providers:
  a: {type: sim, models: {m-a: {ttft: {p50: 100ms}, itl: {p50: 10ms}, output_tokens: {min: 8, max: 8}}}}
models:
  - name: chat
    targets: [{provider: a, model: m-a}]
`

func TestObservedStreamRecordsFinalUsage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := newObserved(t, pacedSim)
		if code := o.post("chat", true); code != 200 {
			t.Fatalf("status %d", code)
		}
		srv, attempts := o.server()
		if len(attempts) != 1 {
			t.Fatalf("%d attempt spans, want 1", len(attempts))
		}
		// The attempt span covers the whole stream and carries the usage of
		// its last chunk; so does the request span.
		for _, s := range []tracetest.SpanStub{srv, attempts[0]} {
			wantAttrs(t, s, map[attribute.Key]any{telemetry.AttrOutputTokens: int64(8), telemetry.AttrResponseModel: "m-a"})
			if s.Status.Code == codes.Error {
				t.Errorf("span %q status %v", s.Name, s.Status)
			}
		}
		if !attempts[0].EndTime.After(attempts[0].StartTime) {
			t.Error("the stream's attempt span has no duration")
		}
		if got := o.counter("bulwark_tokens_total", "alias", "chat", "type", "output"); got != 8 {
			t.Errorf("output tokens = %v, want 8", got)
		}
		if got := o.counter("bulwark_attempts_total", "alias", "chat", "outcome", "success"); got != 1 {
			t.Errorf("attempts = %v, want 1", got)
		}
		for name, want := range map[string]uint64{
			"gen_ai_server_time_to_first_token_seconds":   1,
			"gen_ai_server_time_per_output_token_seconds": 1,
			"gen_ai_server_request_duration_seconds":      1,
		} {
			if got := o.histCount(name); got != want {
				t.Errorf("%s holds %d observations, want %d", name, got, want)
			}
		}
	})
}

func TestObservedStreamCutIsRecordedAsBroken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := newObserved(t, pacedSim)
		o.faults("a", "m-a", config.Faults{Cut: config.Fault{Rate: 1, AfterTokens: 4}})
		if code := o.post("chat", true); code != 200 { // the stream had started
			t.Fatalf("status %d", code)
		}
		srv, attempts := o.server()
		if len(attempts) != 1 {
			t.Fatalf("%d attempt spans, want 1", len(attempts))
		}
		for _, s := range []tracetest.SpanStub{srv, attempts[0]} {
			if s.Status.Code != codes.Error {
				t.Errorf("span %q of a cut stream has status %v", s.Name, s.Status)
			}
		}
		wantAttrs(t, attempts[0], map[attribute.Key]any{telemetry.AttrErrorType: "stream_broken"})
		if got := o.counter("bulwark_upstream_errors_total", "provider", "a", "kind", "stream_broken"); got != 1 {
			t.Errorf("upstream errors{stream_broken} = %v, want 1", got)
		}
		if got := o.counter("bulwark_requests_total", "alias", "chat", "status", "200"); got != 1 {
			t.Errorf("requests{200} = %v, want 1", got)
		}
		if rep, ok := o.drift.Report("chat"); !ok || rep.CurrentSamples != 1 {
			t.Errorf("drift report %+v, %v", rep, ok)
		}
	})
}

func TestObservedHedgeIsNotARetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := newObserved(t, hedgeCfg)
		if code := o.post("chat", false); code != 200 {
			t.Fatalf("status %d", code)
		}
		_, attempts := o.server()
		if len(attempts) != 2 {
			t.Fatalf("%d attempt spans, want 2", len(attempts))
		}
		byModel := map[string]tracetest.SpanStub{}
		for _, a := range attempts {
			byModel[a.Name] = a
		}
		wantAttrs(t, byModel["chat slow"], map[attribute.Key]any{
			telemetry.AttrAttempt: int64(1), telemetry.AttrHedge: false, telemetry.AttrErrorType: "canceled",
		})
		wantAttrs(t, byModel["chat fast"], map[attribute.Key]any{
			telemetry.AttrAttempt: int64(2), telemetry.AttrHedge: true, telemetry.AttrFallback: false,
		})
		if got := o.counter("bulwark_retries_total"); got != 0 {
			t.Errorf("retries = %v: a hedge repeats no failed attempt", got)
		}
		if got := o.counter("bulwark_attempts_total", "provider", "b", "outcome", "success"); got != 1 {
			t.Errorf("hedge attempts = %v, want 1", got)
		}
	})
}

func TestStreamUsageAfterTheEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := newObserved(t, pacedSim)
		s, _, err := o.gw.Stream(context.Background(), tenant.Principal{}, chatReq("chat"), gateway.StreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for {
			if _, err := s.Recv(); err != nil {
				break
			}
		}
		if u, ok := gateway.StreamUsage(s); !ok || u.CompletionTokens != 8 {
			t.Errorf("StreamUsage = %+v, %v; want 8 completion tokens", u, ok)
		}
		// No request span in the context: the metrics still record it.
		if got := o.counter("bulwark_tokens_total", "alias", "chat", "type", "output"); got != 8 {
			t.Errorf("output tokens = %v, want 8", got)
		}
	})
}

// A request the process gate refuses (admission control sheds it) is a
// server span with the shed decision, its class and reason, and error.type
// shed; it makes no attempt, so there is no attempt span and no attempt
// metric; the shed counter counts it by class, tenant and reason.
func TestObservedShed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctl := shed.New(shed.Options{MaxInflight: 1})
		o := newObserved(t, twoSims, func(g *gateway.Options) { g.Capacity = ctl })
		hold, err := ctl.Admit(shed.Request{Class: shed.Critical}) // the only slot
		if err != nil {
			t.Fatal(err)
		}
		if code := o.post("chat", false); code != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", code)
		}
		hold()
		srv, attempts := o.server()
		if len(attempts) != 0 {
			t.Errorf("%d attempt spans for a shed request, want none", len(attempts))
		}
		wantAttrs(t, srv, map[attribute.Key]any{
			telemetry.AttrShedDecision: telemetry.DecisionShed,
			telemetry.AttrShedClass:    "interactive",
			telemetry.AttrShedReason:   shed.ReasonMaxInflight,
			telemetry.AttrErrorType:    "shed",
			telemetry.AttrAlias:        "chat",
			telemetry.AttrTenant:       "acme",
			telemetry.AttrAttempts:     int64(0),
		})
		if srv.Status.Code != codes.Error {
			t.Errorf("shed request span status %v", srv.Status)
		}
		for _, c := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"bulwark_shed_total", []string{"class", "interactive", "tenant", "acme", "reason", shed.ReasonMaxInflight}, 1},
			{"bulwark_admitted_total", nil, 0},
			{"bulwark_requests_total", []string{"alias", "chat", "status", "503", "tenant", "acme", "provider", ""}, 1},
			{"bulwark_attempts_total", nil, 0},
			{"bulwark_upstream_errors_total", nil, 0},
		} {
			if got := o.counter(c.name, c.labels...); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
		}
		if got := o.histCount("gen_ai_client_operation_duration_seconds"); got != 0 {
			t.Errorf("operation duration holds %d attempts, want none", got)
		}
	})
}

// An admitted request's span says so, with its class and the time it
// waited for its target.
func TestObservedAdmitted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := newObserved(t, twoSims, func(g *gateway.Options) { g.Capacity = shed.New(shed.Options{}) })
		if code := o.post("chat", false); code != 200 {
			t.Fatalf("status %d", code)
		}
		srv, attempts := o.server()
		if len(attempts) != 1 {
			t.Fatalf("%d attempt spans, want 1", len(attempts))
		}
		wantAttrs(t, srv, map[attribute.Key]any{
			telemetry.AttrShedDecision: telemetry.DecisionAdmitted,
			telemetry.AttrShedClass:    "interactive",
			telemetry.AttrQueueWait:    float64(0), // a free target: no wait (synctest time)
		})
		for _, kv := range srv.Attributes {
			if kv.Key == telemetry.AttrShedReason {
				t.Errorf("admitted request span has %s = %v", kv.Key, kv.Value.AsInterface())
			}
		}
		if got := o.counter("bulwark_admitted_total", "class", "interactive"); got < 1 {
			t.Errorf("bulwark_admitted_total{interactive} = %v, want the request counted", got)
		}
		if got := o.counter("bulwark_shed_total"); got != 0 {
			t.Errorf("bulwark_shed_total = %v, want 0", got)
		}
	})
}
