package api

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// Anthropic's error types.
const (
	AnthropicInvalidRequest  = "invalid_request_error"
	AnthropicAuthentication  = "authentication_error"
	AnthropicPermission      = "permission_error"
	AnthropicNotFound        = "not_found_error"
	AnthropicRequestTooLarge = "request_too_large"
	AnthropicRateLimit       = "rate_limit_error"
	AnthropicAPI             = "api_error"
	AnthropicOverloaded      = "overloaded_error"
)

// StatusOverloaded is Anthropic's status for an overloaded service. The
// Anthropic SDKs retry it (they retry every status from 500 up) and raise
// it as an OverloadedError.
const StatusOverloaded = 529

// HeaderAnthropicVersion is the header every Anthropic SDK request carries.
const HeaderAnthropicVersion = "Anthropic-Version"

// IsAnthropic reports whether r is a request of Anthropic's Messages API,
// to be answered in Anthropic's format: it carries anthropic-version (the
// Anthropic SDKs always send it) or is for /v1/messages.
func IsAnthropic(r *http.Request) bool {
	return r.Header.Get(HeaderAnthropicVersion) != "" || r.URL.Path == "/v1/messages" || strings.HasPrefix(r.URL.Path, "/v1/messages/")
}

// WriteErrorFor answers err in the format of r's API: Anthropic's for an
// Anthropic request (IsAnthropic), else OpenAI's.
func WriteErrorFor(w http.ResponseWriter, r *http.Request, err error) {
	if IsAnthropic(r) {
		WriteAnthropicError(w, err)
		return
	}
	WriteError(w, err)
}

// AnthropicStatus returns the status and Anthropic error type of e. A 503
// that says Bulwark or an upstream is overloaded (admission control's
// refusals, an upstream's overload) is Anthropic's 529 overloaded_error;
// one that says Bulwark is shutting down or its store is unavailable stays
// a 503 api_error. Both are retried by the SDKs.
func AnthropicStatus(e *Error) (int, string) {
	switch s := e.Status; {
	case s == http.StatusBadRequest || s == http.StatusMethodNotAllowed || s == http.StatusUnprocessableEntity:
		return s, AnthropicInvalidRequest
	case s == http.StatusUnauthorized:
		return s, AnthropicAuthentication
	case s == http.StatusForbidden:
		return s, AnthropicPermission
	case s == http.StatusNotFound:
		return s, AnthropicNotFound
	case s == http.StatusRequestEntityTooLarge:
		return s, AnthropicRequestTooLarge
	case s == http.StatusTooManyRequests:
		return s, AnthropicRateLimit
	case s == http.StatusServiceUnavailable:
		if e.Code == "server_shutting_down" || e.Code == "store_unavailable" {
			return s, AnthropicAPI
		}
		return StatusOverloaded, AnthropicOverloaded
	case s >= 500:
		return s, AnthropicAPI
	case s >= 400:
		return s, AnthropicInvalidRequest
	}
	return http.StatusInternalServerError, AnthropicAPI
}

// WriteAnthropicError answers err in Anthropic's error format, with the
// status AnthropicStatus gives and Retry-After when Bulwark or the
// upstream said when to retry.
func WriteAnthropicError(w http.ResponseWriter, err error) {
	e := AsError(err)
	status, _ := AnthropicStatus(e)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	w.WriteHeader(status)
	_, _ = w.Write(e.AnthropicBody())
}

// AnthropicWire is Anthropic's error body: the body of an error response
// and the data of a stream's error event.
type AnthropicWire struct {
	Type  string             `json:"type"`
	Error AnthropicWireError `json:"error"`
}

// AnthropicWireError is the inside of Anthropic's error body.
type AnthropicWireError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// AnthropicBody returns e as Anthropic's error JSON. The message names
// the parameter when e has one and does not already.
func (e *Error) AnthropicBody() []byte {
	_, typ := AnthropicStatus(e)
	msg := e.Message
	if e.Param != "" && !strings.Contains(msg, e.Param) {
		msg = e.Param + ": " + msg
	}
	b, _ := json.Marshal(AnthropicWire{Type: "error", Error: AnthropicWireError{Type: typ, Message: msg}})
	return b
}
