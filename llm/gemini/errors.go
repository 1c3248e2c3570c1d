package gemini

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/upstream"
)

// googleError is what Google said about a failure, from its error format:
//
//	{"error":{"code":429,"message":"…","status":"RESOURCE_EXHAUSTED",
//	  "details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"27s"},
//	             {"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}
//
// also as the only element of an array (the JSON-array stream form). A body
// that is not JSON becomes the message, shortened.
type googleError struct {
	Code    int    // the HTTP status the body states, 0 when none
	Status  string // the canonical code: RESOURCE_EXHAUSTED, …
	Message string
	Reason  string        // ErrorInfo.reason: API_KEY_INVALID, …
	Retry   time.Duration // RetryInfo.retryDelay, 0 when absent
}

type wireError struct {
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
	Status  string          `json:"status"`
	Details []struct {
		Type       string `json:"@type"`
		RetryDelay string `json:"retryDelay"`
		Reason     string `json:"reason"`
	} `json:"details"`
}

// parseErrorBody reads an error body. It never fails: unknown shapes yield
// an empty or text-only googleError.
func parseErrorBody(b []byte) googleError {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var arr []json.RawMessage
		if json.Unmarshal(b, &arr) == nil && len(arr) > 0 {
			b = bytes.TrimSpace(arr[0])
		}
	}
	var top struct {
		Error json.RawMessage `json:"error"`
	}
	if len(b) == 0 {
		return googleError{}
	}
	if b[0] != '{' || json.Unmarshal(b, &top) != nil || !isPresent(top.Error) {
		return googleError{Message: upstream.Clip(string(b))}
	}
	return parseErrorObject(top.Error)
}

// parseErrorObject reads the object under "error".
func parseErrorObject(raw json.RawMessage) googleError {
	var w wireError
	if err := json.Unmarshal(raw, &w); err != nil {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return googleError{Message: upstream.Clip(s)}
		}
		return googleError{Message: upstream.Clip(string(raw))}
	}
	ge := googleError{Status: upstream.Clip(w.Status), Message: upstream.Clip(w.Message)}
	if n, err := strconv.Atoi(strings.Trim(string(w.Code), `"`)); err == nil && n >= 100 && n <= 599 {
		ge.Code = n
	}
	for _, d := range w.Details {
		switch {
		case strings.HasSuffix(d.Type, "google.rpc.RetryInfo"):
			ge.Retry = parseDelay(d.RetryDelay)
		case strings.HasSuffix(d.Type, "google.rpc.ErrorInfo") && ge.Reason == "":
			ge.Reason = upstream.Clip(d.Reason)
		}
	}
	return ge
}

// maxDelay bounds a stated wait; beyond it the value is taken as
// unreadable.
const maxDelay = 24 * time.Hour

// parseDelay reads a protobuf Duration in JSON ("27s", "1.5s"); zero when
// unreadable, negative or above maxDelay.
func parseDelay(s string) time.Duration {
	s = strings.TrimSpace(s)
	if !strings.HasSuffix(s, "s") {
		return 0
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "s"), 64)
	if err != nil || !(f > 0 && f <= maxDelay.Seconds()) {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// classify maps an HTTP status (zero for an error object inside a stream)
// and an error body to a Kind. Google's codes and messages are read here
// and nowhere else.
func classify(status int, ge googleError) llm.Kind {
	st := status
	if st == 0 {
		st = ge.Code
	}
	switch gs := ge.Status; {
	// An invalid key is a 400 INVALID_ARGUMENT with reason API_KEY_INVALID.
	case gs == "UNAUTHENTICATED" || gs == "PERMISSION_DENIED" || st == 401 || st == 403,
		strings.HasPrefix(ge.Reason, "API_KEY_"):
		return llm.KindAuth
	case gs == "RESOURCE_EXHAUSTED" || st == 429:
		return llm.KindRateLimited
	case gs == "UNAVAILABLE" || st == 503:
		return llm.KindOverloaded
	case gs == "DEADLINE_EXCEEDED" || st == 504:
		return llm.KindTimeout
	case gs == "NOT_FOUND" || st == 404:
		return llm.KindNotFound
	case gs == "INVALID_ARGUMENT" || gs == "FAILED_PRECONDITION" || gs == "OUT_OF_RANGE" || st == 400 || st == 413:
		if contextLengthMessage(ge.Message) || st == 413 {
			return llm.KindContextLength
		}
		return llm.KindBadRequest
	case gs == "UNIMPLEMENTED":
		return llm.KindBadRequest
	case gs == "INTERNAL" || gs == "UNKNOWN" || gs == "ABORTED" || gs == "DATA_LOSS" || gs == "CANCELLED":
		return llm.KindServer
	case st >= 400:
		return llm.KindForStatus(st)
	}
	return llm.KindServer
}

// contextLengthMessage reports whether a 400's message says the prompt
// does not fit: "The input token count (N) exceeds the maximum number of
// tokens allowed (M)."
func contextLengthMessage(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "exceeds the maximum number of tokens") ||
		(strings.Contains(m, "token count") && strings.Contains(m, "exceed")) ||
		strings.Contains(m, "context window") || strings.Contains(m, "context length")
}

// statusError turns a non-2xx answer into an *llm.Error.
func (c *Client) statusError(status int, h http.Header, body []byte, model string) *llm.Error {
	ge := parseErrorBody(body)
	msg := ge.Message
	if msg == "" {
		msg = upstream.StatusMessage(status)
	}
	wait := ge.Retry
	if wait == 0 {
		// Only Retry-After: Google states no retry-after-ms.
		wait = upstream.ParseRetryAfter(h.Get("Retry-After"), time.Now())
	}
	return &llm.Error{
		Kind:       classify(status, ge),
		Status:     status,
		Code:       ge.Status,
		Type:       ge.Reason,
		Message:    c.errs().Redact(msg),
		RetryAfter: wait,
		Provider:   c.name,
		Model:      model,
	}
}

// eventError turns an error object inside a 200 answer (raw is the value of
// "error") into an *llm.Error.
func (c *Client) eventError(raw json.RawMessage, model string) *llm.Error {
	ge := parseErrorObject(raw)
	msg := ge.Message
	if msg == "" {
		msg = "error object in the answer"
	}
	return &llm.Error{
		Kind:       classify(0, ge),
		Code:       ge.Status,
		Type:       ge.Reason,
		Message:    c.errs().Redact(msg),
		RetryAfter: ge.Retry,
		Provider:   c.name,
		Model:      model,
	}
}
