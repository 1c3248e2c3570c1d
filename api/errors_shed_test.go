package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/shed"
)

func TestShedErrorsAre429Or503WithRetryAfter(t *testing.T) {
	for _, c := range []struct {
		scope  shed.Scope
		status int
		typ    string
	}{
		{shed.ScopeTenant, http.StatusTooManyRequests, TypeRateLimit},
		{shed.ScopeSystem, http.StatusServiceUnavailable, TypeServer},
	} {
		se := &shed.Error{Reason: shed.ReasonQueueFull, Scope: c.scope, RetryAfter: 2500 * time.Millisecond, Class: shed.Batch, Target: "sim/m"}
		// As the gateway returns it: a refused attempt wrapping the refusal.
		wrapped := &llm.Error{Kind: llm.KindOverloaded, Status: 503, Provider: "sim", Model: "m", Err: se}
		w := httptest.NewRecorder()
		WriteError(w, fmt.Errorf("serve: %w", wrapped))
		if w.Code != c.status || w.Header().Get("Retry-After") != "3" {
			t.Errorf("%s: status %d Retry-After %q, want %d and 3", c.scope, w.Code, w.Header().Get("Retry-After"), c.status)
		}
		var body Wire
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if body.Error.Type != c.typ || body.Error.Code == nil || *body.Error.Code != shed.ReasonQueueFull {
			t.Errorf("%s: body %s", c.scope, w.Body.String())
		}
	}
}
