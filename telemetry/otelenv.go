package telemetry

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The standard OpenTelemetry environment variables, as services built on
// the OpenTelemetry SDK read them. The OTLP exporters read
// OTEL_EXPORTER_OTLP_* and OTEL_EXPORTER_OTLP_TRACES_* (endpoint, headers,
// timeout, TLS, compression) on their own; what is read here is whether
// to trace at all, the protocol, the sampler and the resource.
//
// Bulwark reads these itself rather than through
// go.opentelemetry.io/contrib/exporters/autoexport: that package picks
// exporters from registries filled by init functions, brings in the
// metric and log SDKs and the Prometheus and stdout exporters Bulwark has
// no use for, and reads neither OTEL_SDK_DISABLED nor the sampler, so most
// of this would be read here anyway.
const (
	envSDKDisabled    = "OTEL_SDK_DISABLED"
	envTracesExporter = "OTEL_TRACES_EXPORTER"
	envProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	envSampler        = "OTEL_TRACES_SAMPLER"
	envSamplerArg     = "OTEL_TRACES_SAMPLER_ARG"
)

// SDKDisabled reports whether OTEL_SDK_DISABLED is true.
func SDKDisabled() bool {
	return strings.EqualFold(strings.TrimSpace(os.Getenv(envSDKDisabled)), "true")
}

// TracingRequested reports whether the environment asks for traces:
// OTEL_TRACES_EXPORTER names otlp and OTEL_SDK_DISABLED is not true.
// Unset, OTEL_TRACES_EXPORTER means no traces: Bulwark traces only when
// asked to. An exporter other than otlp or none is an error, since
// Bulwark exports over OTLP only.
func TracingRequested() (bool, error) {
	if SDKDisabled() {
		return false, nil
	}
	otlp := false
	for name := range strings.SplitSeq(os.Getenv(envTracesExporter), ",") {
		switch n := strings.ToLower(strings.TrimSpace(name)); n {
		case "otlp":
			otlp = true
		case "none", "":
		default:
			return false, fmt.Errorf("%s=%q: Bulwark exports traces over OTLP only; set otlp or none", envTracesExporter, n)
		}
	}
	return otlp, nil
}

// envExporter returns the exporter OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
// else OTEL_EXPORTER_OTLP_PROTOCOL, names: ExporterHTTP when neither is
// set.
func envExporter() (string, error) {
	name, v := envTracesProtocol, os.Getenv(envTracesProtocol)
	if v == "" {
		name, v = envProtocol, os.Getenv(envProtocol)
	}
	switch strings.TrimSpace(v) {
	case "", "http/protobuf":
		return ExporterHTTP, nil
	case "grpc":
		return ExporterGRPC, nil
	case "http/json":
		return "", fmt.Errorf("%s=http/json is not supported: use http/protobuf or grpc", name)
	}
	return "", fmt.Errorf("%s=%q is not grpc or http/protobuf", name, v)
}

// newSampler returns the sampler of o: ParentBased(TraceIDRatioBased) of
// o.SampleRatio when it is above 0, else the one OTEL_TRACES_SAMPLER and
// OTEL_TRACES_SAMPLER_ARG name, else ParentBased(AlwaysSample).
func newSampler(o TracingOptions) (sdktrace.Sampler, error) {
	if o.SampleRatio > 0 {
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(o.SampleRatio)), nil
	}
	v := strings.ToLower(strings.TrimSpace(os.Getenv(envSampler)))
	ratio := func() (float64, error) {
		arg := strings.TrimSpace(os.Getenv(envSamplerArg))
		if arg == "" {
			return 1, nil
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || !(r >= 0 && r <= 1) {
			return 0, fmt.Errorf("%s=%q is not a ratio from 0 to 1", envSamplerArg, arg)
		}
		return r, nil
	}
	switch v {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.TraceIDRatioBased(r), nil
	case "parentbased_traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), nil
	}
	return nil, fmt.Errorf("%s=%q is not one of always_on, always_off, traceidratio, "+
		"parentbased_always_on, parentbased_always_off, parentbased_traceidratio", envSampler, v)
}

// newResource returns the resource of o. Later sources win: service.name
// bulwark, then OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME, then
// o.ServiceName and o.ServiceVersion.
func newResource(ctx context.Context, o TracingOptions) (*resource.Resource, error) {
	var explicit []attribute.KeyValue
	if o.ServiceName != "" {
		explicit = append(explicit, attribute.String("service.name", o.ServiceName))
	}
	if o.ServiceVersion != "" {
		explicit = append(explicit, attribute.String("service.version", o.ServiceVersion))
	}
	r, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "bulwark")),
		resource.WithFromEnv(),
		resource.WithAttributes(explicit...),
	)
	if err != nil {
		return nil, fmt.Errorf("read OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME: %w", err)
	}
	return r, nil
}
