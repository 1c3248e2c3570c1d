package app

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// otlpReceiver is an OTLP/HTTP collector keeping what is posted to
// /v1/traces.
type otlpReceiver struct {
	url string
	mu  sync.Mutex
	got []byte
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		if req.Method == http.MethodPost && req.URL.Path == "/v1/traces" {
			r.mu.Lock()
			r.got = append(r.got, b...)
			r.mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *otlpReceiver) received() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.got)
}

// setOTelEnv empties the OpenTelemetry variables Bulwark reads, whatever
// the machine's environment holds, then sets kv.
func setOTelEnv(t *testing.T, kv ...string) {
	t.Helper()
	for _, k := range []string{
		"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER",
		"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
		"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
	} {
		t.Setenv(k, "")
	}
	for i := 0; i+1 < len(kv); i += 2 {
		t.Setenv(kv[i], kv[i+1])
	}
}

// sampledParent is a client's traceparent with the sampled flag set.
const sampledParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// chatAndFlush sends one chat request with a sampled client trace, then
// stops the app, which flushes the spans.
func chatAndFlush(t *testing.T, ts *testServer) {
	t.Helper()
	resp, body := ts.do(t, "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`,
		"traceparent", sampledParent)
	if resp.StatusCode != 200 {
		t.Fatalf("chat: %d %s", resp.StatusCode, body)
	}
	ts.stop()
}

// With no tracing in the config, the standard OpenTelemetry variables
// alone turn traces on, choose the protocol, the sampler and the resource;
// OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER=none and a sampler that drops
// everything keep them off.
func TestTracingFromOTelEnv(t *testing.T) {
	for _, c := range []struct {
		name   string
		env    []string
		export bool
	}{
		{name: "otlp", export: true},
		{name: "sdk disabled", env: []string{"OTEL_SDK_DISABLED", "true"}},
		{name: "exporter none", env: []string{"OTEL_TRACES_EXPORTER", "none"}},
		// The client's sampled flag would be honoured by the default sampler.
		{name: "sampler always_off", env: []string{"OTEL_TRACES_SAMPLER", "always_off"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			recv := newOTLPReceiver(t)
			setOTelEnv(t, append([]string{
				"OTEL_TRACES_EXPORTER", "otlp",
				"OTEL_EXPORTER_OTLP_ENDPOINT", recv.url,
				"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf",
				"OTEL_TRACES_SAMPLER", "parentbased_traceidratio",
				"OTEL_TRACES_SAMPLER_ARG", "1",
				"OTEL_SERVICE_NAME", "bulwark-from-env",
				"OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging",
			}, c.env...)...)
			ts := start(t, fastConfig)
			chatAndFlush(t, ts)
			got := recv.received()
			if !c.export {
				if got != "" {
					t.Errorf("%d bytes of spans exported", len(got))
				}
				return
			}
			for _, want := range []string{"chat chat", "chat fast-chat", "bulwark-from-env", "staging"} {
				if !strings.Contains(got, want) {
					t.Errorf("exported spans lack %q (%d bytes exported)", want, len(got))
				}
			}
		})
	}
}

// What telemetry.tracing says wins over the environment; what it leaves
// empty the environment fills.
func TestTracingConfigOverridesOTelEnv(t *testing.T) {
	fromEnv, fromConfig := newOTLPReceiver(t), newOTLPReceiver(t)
	setOTelEnv(t,
		"OTEL_SDK_DISABLED", "true",
		"OTEL_TRACES_EXPORTER", "none",
		"OTEL_EXPORTER_OTLP_ENDPOINT", fromEnv.url,
		"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc",
		"OTEL_TRACES_SAMPLER", "always_off",
		"OTEL_SERVICE_NAME", "bulwark-from-env",
	)
	ts := start(t, fastConfig+`telemetry:
  tracing: {enabled: true, exporter: http, endpoint: `+fromConfig.url+`/v1/traces, sample_ratio: 1}
`)
	chatAndFlush(t, ts)
	if got := fromEnv.received(); got != "" {
		t.Errorf("spans sent to the environment's endpoint: %d bytes", len(got))
	}
	got := fromConfig.received()
	// service_name is not in the config: OTEL_SERVICE_NAME names the service.
	for _, want := range []string{"chat chat", "bulwark-from-env"} {
		if !strings.Contains(got, want) {
			t.Errorf("spans at the config's endpoint lack %q (%d bytes exported)", want, len(got))
		}
	}
}
