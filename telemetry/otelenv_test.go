package telemetry

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// otelVars are the OpenTelemetry variables the tests set; each test
// starts with all of them empty, whatever the machine's environment holds.
var otelVars = []string{
	"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
	"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
}

func setOTelEnv(t *testing.T, kv ...string) {
	t.Helper()
	for _, k := range otelVars {
		t.Setenv(k, "")
	}
	for i := 0; i+1 < len(kv); i += 2 {
		t.Setenv(kv[i], kv[i+1])
	}
}

func TestTracingRequestedByEnv(t *testing.T) {
	for _, c := range []struct {
		env     []string
		want    bool
		wantErr string
	}{
		{env: nil, want: false},
		{env: []string{"OTEL_TRACES_EXPORTER", "otlp"}, want: true},
		{env: []string{"OTEL_TRACES_EXPORTER", " OTLP "}, want: true},
		{env: []string{"OTEL_TRACES_EXPORTER", "none"}, want: false},
		{env: []string{"OTEL_TRACES_EXPORTER", "otlp", "OTEL_SDK_DISABLED", "true"}, want: false},
		{env: []string{"OTEL_TRACES_EXPORTER", "otlp", "OTEL_SDK_DISABLED", "TRUE"}, want: false},
		{env: []string{"OTEL_TRACES_EXPORTER", "otlp", "OTEL_SDK_DISABLED", "false"}, want: true},
		{env: []string{"OTEL_TRACES_EXPORTER", "zipkin"}, wantErr: `OTEL_TRACES_EXPORTER="zipkin": Bulwark exports traces over OTLP only`},
		{env: []string{"OTEL_TRACES_EXPORTER", "otlp,console"}, wantErr: `"console"`},
	} {
		setOTelEnv(t, c.env...)
		got, err := TracingRequested()
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%v: err = %v, want %q", c.env, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%v: TracingRequested() = %v, %v; want %v", c.env, got, err, c.want)
		}
	}
}

func TestSamplerFromEnv(t *testing.T) {
	for _, c := range []struct {
		sampler, arg string
		ratio        float64
		want         string
	}{
		{"", "", 0, "ParentBased{root:AlwaysOnSampler"},
		{"always_on", "", 0, "AlwaysOnSampler"},
		{"always_off", "", 0, "AlwaysOffSampler"},
		{"parentbased_always_off", "", 0, "ParentBased{root:AlwaysOffSampler"},
		{"traceidratio", "0.25", 0, "TraceIDRatioBased{0.25}"},
		{"parentbased_traceidratio", "0.5", 0, "ParentBased{root:TraceIDRatioBased{0.5}"},
		{"parentbased_traceidratio", "", 0, "ParentBased{root:TraceIDRatioBased{1}"},
		// A ratio in the config wins over the environment.
		{"always_off", "", 0.75, "ParentBased{root:TraceIDRatioBased{0.75}"},
	} {
		setOTelEnv(t, "OTEL_TRACES_SAMPLER", c.sampler, "OTEL_TRACES_SAMPLER_ARG", c.arg)
		s, err := newSampler(TracingOptions{SampleRatio: c.ratio})
		if err != nil {
			t.Errorf("%s %s: %v", c.sampler, c.arg, err)
			continue
		}
		if !strings.HasPrefix(s.Description(), c.want) {
			t.Errorf("%s %s ratio %v: sampler %s, want %s", c.sampler, c.arg, c.ratio, s.Description(), c.want)
		}
	}
}

// A variable NewTracing cannot honour stops the start, naming it.
func TestNewTracingEnvErrors(t *testing.T) {
	for _, c := range []struct{ env []string }{
		{[]string{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"}},
		{[]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift"}},
		{[]string{"OTEL_TRACES_SAMPLER", "jaeger_remote"}},
		{[]string{"OTEL_TRACES_SAMPLER", "traceidratio", "OTEL_TRACES_SAMPLER_ARG", "2"}},
		{[]string{"OTEL_RESOURCE_ATTRIBUTES", "no-equals-sign"}},
	} {
		setOTelEnv(t, c.env...)
		tr, err := NewTracing(context.Background(), TracingOptions{Endpoint: "127.0.0.1:1", Insecure: true})
		if err == nil {
			_ = tr.Close(context.Background())
			t.Errorf("%v: accepted", c.env)
			continue
		}
		if !strings.Contains(err.Error(), c.env[len(c.env)-2]) && !strings.Contains(err.Error(), "OTEL_RESOURCE_ATTRIBUTES") {
			t.Errorf("%v: error does not name the variable: %v", c.env, err)
		}
	}
}

// traceReceiver is an OTLP/gRPC collector keeping what it receives.
type traceReceiver struct {
	coltracepb.UnimplementedTraceServiceServer
	mu  sync.Mutex
	got []*coltracepb.ExportTraceServiceRequest
}

func (r *traceReceiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	r.got = append(r.got, req)
	r.mu.Unlock()
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// resources returns service.name and deployment.environment of every
// resource received, and the names of their spans.
func (r *traceReceiver) resources() (services, envs, spans []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, req := range r.got {
		for _, rs := range req.GetResourceSpans() {
			for _, kv := range rs.GetResource().GetAttributes() {
				switch kv.GetKey() {
				case "service.name":
					services = append(services, kv.GetValue().GetStringValue())
				case "deployment.environment":
					envs = append(envs, kv.GetValue().GetStringValue())
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					spans = append(spans, s.GetName())
				}
			}
		}
	}
	return services, envs, spans
}

func startTraceReceiver(t *testing.T) (*traceReceiver, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &traceReceiver{}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, r)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return r, "http://" + ln.Addr().String()
}

// With the options empty, the protocol, the endpoint and the resource come
// from the standard variables; ServiceName wins over them.
func TestNewTracingFromEnvOverGRPC(t *testing.T) {
	for _, c := range []struct {
		name        string
		env         []string
		opts        TracingOptions
		wantService string
		wantEnv     string
	}{
		{name: "service name", env: []string{"OTEL_SERVICE_NAME", "from-env", "OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,deployment.environment=staging"},
			wantService: "from-env", wantEnv: "staging"},
		{name: "resource attributes", env: []string{"OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"},
			wantService: "from-attrs"},
		{name: "default", wantService: "bulwark"},
		{name: "options win", env: []string{"OTEL_SERVICE_NAME", "from-env"}, opts: TracingOptions{ServiceName: "from-config"},
			wantService: "from-config"},
	} {
		t.Run(c.name, func(t *testing.T) {
			recv, endpoint := startTraceReceiver(t)
			setOTelEnv(t, append([]string{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT", endpoint}, c.env...)...)
			tr, err := NewTracing(context.Background(), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			_, span := tr.Tracer().Start(context.Background(), "probe")
			span.End()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tr.Close(ctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
			services, envs, spans := recv.resources()
			if len(spans) != 1 || spans[0] != "probe" {
				t.Fatalf("received spans %v over gRPC, want [probe]", spans)
			}
			if len(services) != 1 || services[0] != c.wantService {
				t.Errorf("service.name = %v, want %s", services, c.wantService)
			}
			if c.wantEnv != "" && (len(envs) != 1 || envs[0] != c.wantEnv) {
				t.Errorf("deployment.environment = %v, want %s", envs, c.wantEnv)
			}
		})
	}
}
