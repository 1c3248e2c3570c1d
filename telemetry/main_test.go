package telemetry

import (
	"testing"

	"github.com/bulwark-ai/bulwark/leakcheck"
)

// TestMain fails the run when an exporter or span processor goroutine
// outlives the tests: a Tracing that Close did not stop would show here.
func TestMain(m *testing.M) {
	leakcheck.Main(m, "otel/sdk/trace.", "otlptrace", "google.golang.org/grpc")
}
