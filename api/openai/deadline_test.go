package openai

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/tenant"
)

func TestEdgeReadsTheClientsDeadlineAndRetry(t *testing.T) {
	cases := []struct {
		headers map[string]string
		timeout time.Duration
		retries int
	}{
		{nil, 0, 0},
		{map[string]string{HeaderSDKTimeout: "1"}, time.Second, 0},
		{map[string]string{HeaderSDKTimeout: "2.5", HeaderSDKRetry: "2"}, 2500 * time.Millisecond, 2},
		{map[string]string{HeaderSDKTimeout: "600"}, 10 * time.Minute, 0},
		// SDKs send whole seconds rounded down: 0 is under a second.
		{map[string]string{HeaderSDKTimeout: "0"}, time.Second, 0},
		{map[string]string{HeaderTimeout: "1.5s"}, 1500 * time.Millisecond, 0},
		{map[string]string{HeaderGRPCTimeout: "500m"}, 500 * time.Millisecond, 0},
		{map[string]string{HeaderGRPCTimeout: "2S"}, 2 * time.Second, 0},
		{map[string]string{HeaderGRPCTimeout: "3M"}, 3 * time.Minute, 0},
		{map[string]string{HeaderGRPCTimeout: "1H"}, time.Hour, 0},
		{map[string]string{HeaderGRPCTimeout: "750000u"}, 750 * time.Millisecond, 0},
		{map[string]string{HeaderGRPCTimeout: "99999999n"}, 99999999, 0},
		// Bulwark's own header is the client's deliberate choice: it wins.
		{map[string]string{HeaderTimeout: "90s", HeaderGRPCTimeout: "1S", HeaderSDKTimeout: "10"}, 90 * time.Second, 0},
		{map[string]string{HeaderGRPCTimeout: "1S", HeaderSDKTimeout: "10"}, time.Second, 0},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
		for k, v := range c.headers {
			r.Header.Set(k, v)
		}
		e, err := readEdge(r)
		if err != nil {
			t.Errorf("%v: %v", c.headers, err)
			continue
		}
		if e.timeout != c.timeout || e.retries != c.retries {
			t.Errorf("%v: timeout %s retries %d, want %s and %d", c.headers, e.timeout, e.retries, c.timeout, c.retries)
		}
	}
}

// A malformed deadline or retry header is a 400 in OpenAI's format naming
// the header, before anything is served: the client must not believe it
// set a deadline Bulwark ignores.
func TestMalformedDeadlineHeadersAre400(t *testing.T) {
	cases := []struct{ header, value string }{
		{HeaderSDKTimeout, "soon"},
		{HeaderSDKTimeout, "-1"},
		{HeaderSDKTimeout, "NaN"},
		{HeaderSDKTimeout, "Inf"},
		{HeaderTimeout, "5"},
		{HeaderTimeout, "-1s"},
		{HeaderTimeout, "0s"},
		{HeaderTimeout, "1 s"},
		{HeaderGRPCTimeout, "500"},
		{HeaderGRPCTimeout, "0m"},
		{HeaderGRPCTimeout, "5x"},
		{HeaderGRPCTimeout, "+5m"},
		{HeaderGRPCTimeout, "123456789m"},
		{HeaderGRPCTimeout, "-5S"},
		{HeaderSDKRetry, "one"},
		{HeaderSDKRetry, "-1"},
	}
	h := New(nil, 0, nil)
	for _, path := range []string{"POST /v1/chat/completions", "POST /v1/embeddings"} {
		body := `{"model":"m","messages":[{"role":"user","content":"x"}]}`
		if strings.Contains(path, "embeddings") {
			body = `{"model":"m","input":"x"}`
		}
		for _, c := range cases {
			r := httptest.NewRequest("POST", strings.TrimPrefix(path, "POST "), strings.NewReader(body))
			r.Header.Set(c.header, c.value)
			w := httptest.NewRecorder()
			h.Routes()[path](w, r, tenant.Principal{})
			var wire api.Wire
			if err := json.Unmarshal(w.Body.Bytes(), &wire); err != nil {
				t.Fatalf("%s %s: %q: body %q: %v", path, c.header, c.value, w.Body, err)
			}
			if w.Code != http.StatusBadRequest || wire.Error.Type != api.TypeInvalidRequest ||
				wire.Error.Param == nil || *wire.Error.Param != c.header {
				t.Errorf("%s %s: %q: status %d error %+v, want a 400 invalid_request_error with param %s",
					path, c.header, c.value, w.Code, wire.Error, c.header)
			}
		}
	}
}

// Bulwark's deadline for a client ends before the client's own, so that
// its answer — a refusal or a timeout too — reaches the client before the
// client gives up: a 1 s SDK timeout measured over HTTP got 504s 2.8 ms
// after the client had left when both ended together.
func TestTheAnswerIsDueBeforeTheClientGivesUp(t *testing.T) {
	for _, c := range []struct{ timeout, want time.Duration }{
		{0, 0},
		{time.Second, 980 * time.Millisecond},
		{100 * time.Millisecond, 95 * time.Millisecond},
		{6 * time.Millisecond, 3 * time.Millisecond},
		{600 * time.Second, 599 * time.Second},
	} {
		if got := answerWithin(c.timeout); got != c.want {
			t.Errorf("answerWithin(%s) = %s, want %s", c.timeout, got, c.want)
		}
	}
	h := &Handler{}
	r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	ctx, cancel := h.context(r, time.Second)
	defer cancel()
	dl, ok := ctx.Deadline()
	if left := time.Until(dl); !ok || left > 980*time.Millisecond || left < 900*time.Millisecond {
		t.Errorf("a 1 s client timeout left %s (deadline %v)", left, ok)
	}
}
