package openai

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/bulwark-ai/bulwark/api"
)

// Headers by which a client states how long it will wait for an answer
// and whether it is retrying. The official OpenAI and Anthropic SDKs send
// the Stainless ones on every request.
const (
	// HeaderTimeout is Bulwark's own: a Go duration ("1.5s", "800ms").
	HeaderTimeout = "X-Bulwark-Timeout"
	// HeaderGRPCTimeout is gRPC's form: at most 8 digits and a unit,
	// H M S m u n ("500m" is 500ms).
	HeaderGRPCTimeout = "Grpc-Timeout"
	// HeaderSDKTimeout is the SDK's timeout in seconds, maybe fractional.
	HeaderSDKTimeout = "X-Stainless-Timeout"
	// HeaderSDKRetry is the SDK's retry number: 0 on its first try.
	HeaderSDKRetry = "X-Stainless-Retry-Count"
)

// maxTimeout bounds a stated timeout, so that a deadline computed from it
// cannot overflow; far beyond any request Bulwark serves.
const maxTimeout = 100 * 24 * time.Hour

// edge is what the request headers say about how to serve a call.
type edge struct {
	// priority is the X-Bulwark-Priority class, "" when not sent.
	priority string
	// timeout is how long the client waits, zero when it did not say.
	timeout time.Duration
	// retries is the client SDK's retry number.
	retries int
}

// readEdge reads the headers of r that shape how its call is served. A
// malformed one is a 400 naming the header: a client must not believe it
// set a deadline Bulwark ignores.
func readEdge(r *http.Request) (edge, error) {
	var e edge
	var err error
	if e.priority, err = priority(r); err != nil {
		return e, err
	}
	if e.timeout, err = clientTimeout(r.Header); err != nil {
		return e, err
	}
	if v := r.Header.Get(HeaderSDKRetry); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return e, api.BadRequest(HeaderSDKRetry, "the %s header must be a whole number of retries, not %q", HeaderSDKRetry, v)
		}
		e.retries = n
	}
	return e, nil
}

// clientTimeout is the time the client said it waits: X-Bulwark-Timeout
// when sent, else grpc-timeout, else X-Stainless-Timeout; zero when none
// is sent. Every one sent must be well formed and positive, but for an
// X-Stainless-Timeout of 0: SDKs send whole seconds, rounded down, so 0
// means under a second and is taken as one.
func clientTimeout(h http.Header) (time.Duration, error) {
	var (
		d    time.Duration
		seen bool
	)
	if v := h.Get(HeaderTimeout); v != "" {
		t, err := time.ParseDuration(v)
		if err != nil || t <= 0 || t > maxTimeout {
			return 0, api.BadRequest(HeaderTimeout, "the %s header must be a positive duration like \"1.5s\" or \"800ms\", not %q", HeaderTimeout, v)
		}
		d, seen = t, true
	}
	if v := h.Get(HeaderGRPCTimeout); v != "" {
		t, ok := grpcTimeout(v)
		if !ok {
			return 0, api.BadRequest(HeaderGRPCTimeout, "the %s header must be 1 to 8 digits and a unit H, M, S, m, u or n, like \"500m\", not %q", HeaderGRPCTimeout, v)
		}
		if !seen {
			d, seen = t, true
		}
	}
	if v := h.Get(HeaderSDKTimeout); v != "" {
		s, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(s) || s < 0 || s > maxTimeout.Seconds() {
			return 0, api.BadRequest(HeaderSDKTimeout, "the %s header must be a number of seconds like \"30\" or \"1.5\", not %q", HeaderSDKTimeout, v)
		}
		switch {
		case seen:
		case s == 0:
			d = time.Second
		default:
			d = max(time.Duration(s*float64(time.Second)), time.Nanosecond)
		}
	}
	return d, nil
}

// grpcTimeout parses a grpc-timeout value.
func grpcTimeout(v string) (time.Duration, bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	n, err := strconv.ParseUint(v[:len(v)-1], 10, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, false
	}
	if time.Duration(n) > maxTimeout/unit {
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// answerWithin is how long Bulwark has to answer a client that waits
// timeout: the client's clock started before the request reached Bulwark
// and stops after the answer left it, so Bulwark's ends a margin earlier —
// 2% of the timeout, at least 5ms and at most a second — and an answer,
// even a refusal, reaches the client before the client gives up on it.
func answerWithin(timeout time.Duration) time.Duration {
	if timeout <= 0 {
		return 0
	}
	margin := min(max(timeout/50, 5*time.Millisecond), time.Second)
	return max(timeout-margin, timeout/2)
}

// context returns r's context bounded by server.request_timeout and by
// the client's own timeout (answerWithin), whichever ends first. The
// route's total timeout bounds it further in the gateway.
func (h *Handler) context(r *http.Request, clientTimeout time.Duration) (context.Context, context.CancelFunc) {
	d := h.timeout
	if c := answerWithin(clientTimeout); c > 0 && (d <= 0 || c < d) {
		d = c
	}
	if d > 0 {
		return context.WithTimeout(r.Context(), d)
	}
	return context.WithCancel(r.Context())
}
