package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/guard"
)

// TestGuardrailErrors: a guardrail that failed closed is a 503
// guardrail_unavailable naming the check, not its cause; a stream to an
// alias with an output check that calls a service is a 400 on stream.
func TestGuardrailErrors(t *testing.T) {
	cause := errors.New("dial tcp 10.1.2.3:8000: connection refused")
	e := AsError(fmt.Errorf("guard: %w", &guard.UnavailableError{Stage: guard.Input, Check: "classifier", Err: cause}))
	if e.Status != http.StatusServiceUnavailable || e.Code != "guardrail_unavailable" || e.Type != TypeServer ||
		!strings.Contains(e.Message, `"classifier"`) || strings.Contains(e.Message, "10.1.2.3") || e.RetryAfter <= 0 {
		t.Errorf("unavailable: %+v", e)
	}
	e = AsError(&gateway.StreamGuardError{Checks: []string{"bedrock"}})
	if e.Status != http.StatusBadRequest || e.Code != "guardrail_stream_unsupported" || e.Param != "stream" || !strings.Contains(e.Message, "bedrock") {
		t.Errorf("stream: %+v", e)
	}
}
