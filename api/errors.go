package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/guard"
	"github.com/bulwark-ai/bulwark/limit"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/shed"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/tools"
	"github.com/bulwark-ai/bulwark/usage"
)

// storeRetryAfter is the Retry-After of a request refused because the
// store is unavailable.
const storeRetryAfter = 5 * time.Second

// OpenAI error types.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeAuthentication = "authentication_error"
	TypePermission     = "permission_error"
	TypeNotFound       = "not_found_error"
	TypeRateLimit      = "rate_limit_error"
	TypeServer         = "server_error"
	TypeUpstream       = "upstream_error"
	TypeTimeout        = "timeout_error"
)

// Error is an error with everything needed to answer it in OpenAI's error
// format. Handlers return it (or any error) to WriteError.
type Error struct {
	Status     int
	Type       string
	Code       string
	Param      string
	Message    string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given status, type and code.
func Errorf(status int, typ, code, format string, args ...any) *Error {
	return &Error{Status: status, Type: typ, Code: code, Message: fmt.Sprintf(format, args...)}
}

// BadRequest returns a 400 invalid_request_error about param.
func BadRequest(param, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Param: param, Message: fmt.Sprintf(format, args...)}
}

// Wire is OpenAI's error body.
type Wire struct {
	Error WireError `json:"error"`
}

// WireError is the inside of OpenAI's error body. Param and Code are null
// when empty, as OpenAI sends them.
type WireError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// AsError maps any error to an *Error: an *Error as it is, a request the
// server's shutdown cut short (gateway.ErrShuttingDown) and a store that
// cannot be reached (tenant.ErrUnavailable) as a 503, an upstream
// *llm.Error by its kind, a context error as a timeout or a canceled
// request, anything else as a 500 whose message does not leak internals.
// This is the one place errors become HTTP statuses.
func AsError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	if errors.Is(err, gateway.ErrShuttingDown) { // before the cancel it wraps
		return &Error{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: "server_shutting_down",
			Message: "Bulwark is shutting down and ended this request; retry it", RetryAfter: time.Second}
	}
	var re *gateway.RetrievalError
	if errors.As(err, &re) { // before the store and context errors it may wrap
		return &Error{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: "retrieval_unavailable",
			Message: re.Error(), RetryAfter: max(re.RetryAfter, time.Second)}
	}
	if errors.Is(err, tenant.ErrUnavailable) { // before the context errors it may wrap
		// The cause (an address, a driver's message) is for the log only.
		return &Error{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: "store_unavailable",
			Message: "Bulwark's store is unavailable; retry later", RetryAfter: storeRetryAfter}
	}
	var ge *guard.Error
	if errors.As(err, &ge) { // the message names the check and why, never the text
		out := &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: "guardrail_blocked", Message: ge.Error()}
		if ge.Stage == guard.Input {
			out.Param = "messages"
		}
		return out
	}
	var gu *guard.UnavailableError
	if errors.As(err, &gu) { // a guardrail that calls a service failed and fails closed; its cause is for the log only
		return &Error{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: "guardrail_unavailable", Message: gu.Error(), RetryAfter: time.Second}
	}
	var gs *gateway.StreamGuardError
	if errors.As(err, &gs) {
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: "guardrail_stream_unsupported", Param: "stream", Message: gs.Error()}
	}
	var te *tools.Error
	if errors.As(err, &te) { // a request refused (400) or an answer rejected (502) by tool governance
		out := &Error{Status: te.Status, Type: TypeInvalidRequest, Code: te.Code, Param: te.Param, Message: te.Message}
		if te.Status >= 500 {
			out.Type = TypeUpstream
		}
		return out
	}
	var ce *gateway.ContextError
	if errors.As(err, &ce) { // before *llm.Error, which it unwraps to
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: "context_length_exceeded", Param: ce.Param, Message: ce.Error()}
	}
	var se *shed.Error
	if errors.As(err, &se) { // before *llm.Error: a refused attempt wraps its refusal
		return fromShed(se)
	}
	var le *llm.Error
	if errors.As(err, &le) {
		return fromUpstream(le)
	}
	var lim *limit.Error
	if errors.As(err, &lim) {
		// The message names the scope (key or tenant id) and the limit,
		// never a secret.
		out := &Error{Status: http.StatusTooManyRequests, Type: TypeRateLimit, Code: "rate_limit_exceeded", Message: lim.Error()}
		if !lim.TooLarge {
			out.RetryAfter = max(lim.RetryAfter, time.Second)
		}
		return out
	}
	var be *usage.BudgetError
	if errors.As(err, &be) {
		// The message names the scope (key or tenant id), its amount and
		// spending; Retry-After is the time until its period resets.
		return &Error{Status: http.StatusTooManyRequests, Type: TypeRateLimit, Code: "budget_exceeded", Message: be.Error(),
			RetryAfter: max(be.RetryAfter, time.Second)}
	}
	var me *gateway.ModelError
	if errors.As(err, &me) {
		if me.NotAllowed {
			return &Error{Status: http.StatusForbidden, Type: TypePermission, Code: "model_not_allowed", Param: "model", Message: me.Error()}
		}
		return &Error{Status: http.StatusNotFound, Type: TypeInvalidRequest, Code: "model_not_found", Param: "model",
			Message: me.Error() + "; GET /v1/models lists the models this key can use"}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusGatewayTimeout, Type: TypeTimeout, Code: "timeout", Message: "the request timed out"}
	case errors.Is(err, context.Canceled):
		return &Error{Status: 499, Type: TypeInvalidRequest, Code: "canceled", Message: "the request was canceled"}
	}
	return &Error{Status: http.StatusInternalServerError, Type: TypeServer, Code: "internal_error", Message: "internal error"}
}

// fromShed answers a request admission control refused: 429 when the
// caller is over its own share, 503 when Bulwark or the target is
// overloaded; both with Retry-After from the queue state and the reason as
// the error code.
func fromShed(e *shed.Error) *Error {
	out := &Error{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: e.Reason, RetryAfter: e.RetryAfter}
	if e.Scope == shed.ScopeTenant {
		out.Status, out.Type = http.StatusTooManyRequests, TypeRateLimit
	}
	out.Message = fmt.Sprintf("%s; retry after %ds", e.Error(), max(int(math.Ceil(e.RetryAfter.Seconds())), 1))
	return out
}

func fromUpstream(e *llm.Error) *Error {
	out := &Error{Type: TypeUpstream, Code: e.Kind.String(), Param: e.Param, RetryAfter: e.RetryAfter}
	msg := e.Message
	if msg == "" {
		msg = e.Kind.String()
	}
	out.Message = fmt.Sprintf("upstream %s/%s: %s", e.Provider, e.Model, msg)
	switch e.Kind {
	case llm.KindRateLimited:
		out.Status, out.Type = http.StatusTooManyRequests, TypeRateLimit
	case llm.KindOverloaded:
		out.Status = http.StatusServiceUnavailable
	case llm.KindTimeout:
		out.Status, out.Type = http.StatusGatewayTimeout, TypeTimeout
	case llm.KindContextLength:
		out.Status, out.Type, out.Code = http.StatusBadRequest, TypeInvalidRequest, "context_length_exceeded"
		if out.Param == "" {
			out.Param = "messages"
		}
	case llm.KindContentFilter:
		out.Status, out.Type, out.Code = http.StatusBadRequest, TypeInvalidRequest, "content_filter"
	case llm.KindBadRequest:
		out.Status, out.Type = http.StatusBadRequest, TypeInvalidRequest
		if e.Code != "" {
			out.Code = e.Code
		}
	case llm.KindCanceled:
		out.Status = 499
	default:
		// Our credentials, the upstream's routing or the upstream itself
		// failed: none of it is the client's fault.
		out.Status = http.StatusBadGateway
	}
	return out
}

// WriteError answers err in OpenAI's error format.
func WriteError(w http.ResponseWriter, err error) {
	e := AsError(err)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(e.Body())
}

// Body returns e as OpenAI's error JSON.
func (e *Error) Body() []byte {
	we := WireError{Message: e.Message, Type: e.Type}
	if e.Param != "" {
		we.Param = &e.Param
	}
	if e.Code != "" {
		we.Code = &e.Code
	}
	b, _ := json.Marshal(Wire{Error: we})
	return b
}

// WriteJSON answers v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
