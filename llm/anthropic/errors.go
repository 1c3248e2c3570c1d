package anthropic

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	up "github.com/bulwark-ai/bulwark/llm/upstream"
)

// errorBody is what Anthropic said about a failure:
//
//	{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_…"}
//
// the same object as the data of an in-band error event. Other shapes (a
// proxy's {"error":"…"} or {"message":"…"}, a text page) yield what they
// can; a body that is not JSON becomes the message, shortened.
type errorBody struct {
	Type    string
	Message string
}

// parseErrorBody extracts what it can from an error body. It never fails.
func parseErrorBody(b []byte) errorBody {
	var eb errorBody
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return eb
	}
	var top map[string]json.RawMessage
	if b[0] != '{' || json.Unmarshal(b, &top) != nil {
		eb.Message = up.Clip(string(b))
		return eb
	}
	fields := top
	if raw, ok := top["error"]; ok {
		var inner map[string]json.RawMessage
		if json.Unmarshal(raw, &inner) == nil && inner != nil {
			fields = inner
		} else {
			eb.Message = up.Clip(jsonText(raw))
		}
	}
	if eb.Message == "" {
		eb.Message = up.Clip(jsonText(fields["message"]))
	}
	if t := jsonText(fields["type"]); t != "error" {
		eb.Type = up.Clip(t)
	}
	return eb
}

// jsonText renders a JSON value as text: a string unquoted, null as "",
// anything else as compact JSON.
func jsonText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		return buf.String()
	}
	return string(raw)
}

// contextLengthPhrases are how Anthropic says that a prompt does not fit:
// "prompt is too long: 208310 tokens > 200000 maximum", or "input length
// and `max_tokens` exceed context limit: 198000 + 8192 > 200000, …".
var contextLengthPhrases = [...]string{
	"prompt is too long",
	"exceed context limit",
	"context window",
	"context length",
}

// contentFilterPhrases are how Anthropic says that it refused the content.
var contentFilterPhrases = [...]string{
	"content filtering policy",
	"usage policy",
}

func contains(msg string, phrases []string) bool {
	m := strings.ToLower(msg)
	for _, p := range phrases {
		if strings.Contains(m, p) {
			return true
		}
	}
	return false
}

// classify maps an HTTP status (zero for an error event inside a stream)
// and an error body to a Kind. Anthropic's types and messages are read here
// and nowhere else.
func classify(status int, eb errorBody) llm.Kind {
	typ := strings.ToLower(eb.Type)
	switch {
	case status == 0:
		// An error event: only the type can tell.
	case status == http.StatusTooManyRequests:
		return llm.KindRateLimited
	case status == 529 || typ == "overloaded_error":
		return llm.KindOverloaded
	case status >= 500:
		return llm.KindForStatus(status)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return llm.KindAuth
	case status == http.StatusNotFound:
		return llm.KindNotFound
	case status == http.StatusRequestEntityTooLarge:
		// The request's bytes, not its tokens: 32 MB at Anthropic.
		return llm.KindBadRequest
	case status >= 400:
		return badRequestKind(eb.Message)
	default:
		// A 1xx or 3xx that was not followed.
		return llm.KindForStatus(status)
	}
	switch typ {
	case "overloaded_error":
		return llm.KindOverloaded
	case "rate_limit_error":
		return llm.KindRateLimited
	case "api_error":
		return llm.KindServer
	case "timeout_error":
		return llm.KindTimeout
	case "authentication_error", "permission_error":
		return llm.KindAuth
	case "not_found_error":
		return llm.KindNotFound
	case "request_too_large", "billing_error":
		return llm.KindBadRequest
	case "invalid_request_error":
		return badRequestKind(eb.Message)
	}
	return llm.KindServer
}

// badRequestKind is the kind of a 400: the context window and the content
// filter have no type of their own, only their messages.
func badRequestKind(msg string) llm.Kind {
	switch {
	case contains(msg, contextLengthPhrases[:]):
		return llm.KindContextLength
	case contains(msg, contentFilterPhrases[:]):
		return llm.KindContentFilter
	}
	return llm.KindBadRequest
}

// statusError turns a non-2xx answer into an *llm.Error.
func (c *Client) statusError(status int, h http.Header, body []byte, model string) *llm.Error {
	eb := parseErrorBody(body)
	msg := eb.Message
	if msg == "" {
		msg = up.StatusMessage(status)
	}
	return &llm.Error{
		Kind:       classify(status, eb),
		Status:     status,
		Type:       eb.Type,
		Message:    c.errs().Redact(msg),
		RetryAfter: up.RetryAfter(h, time.Now()),
		RateLimit:  rateLimit(h, time.Now()),
		Provider:   c.name,
		Model:      model,
	}
}

// eventError turns an in-band error event (or an error object where a
// message was expected) into an *llm.Error.
func (c *Client) eventError(data []byte, model string) *llm.Error {
	eb := parseErrorBody(data)
	msg := eb.Message
	if msg == "" {
		msg = "error event in stream"
	}
	return &llm.Error{
		Kind:     classify(0, eb),
		Type:     eb.Type,
		Message:  c.errs().Redact(msg),
		Provider: c.name,
		Model:    model,
	}
}
