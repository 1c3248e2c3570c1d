package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bulwark-ai/bulwark/llm"
)

// maxMessageBytes bounds an upstream error message kept in an *llm.Error.
const maxMessageBytes = 1024

// errorBody is what an upstream said about a failure, from any of the error
// body shapes OpenAI-compatible servers use:
//
//	{"error":{"message":"…","type":"…","param":"…","code":"…"}}   OpenAI, Azure, Groq, vLLM
//	{"error":"…"}                                                Ollama
//	{"message":"…","type":"…","code":404}                        vLLM (older), others
//	{"detail":"…"} or {"detail":[{…}]}                           FastAPI-based servers
//
// A body that is not JSON becomes the message, shortened.
type errorBody struct {
	Message string
	Type    string
	Code    string
	Param   string
	// Status is a numeric code in the body that looks like an HTTP status
	// (vLLM sends "code": 400); zero otherwise.
	Status int
}

// parseErrorBody extracts what it can from an upstream error body. It never
// fails: unknown shapes yield an empty or text-only errorBody.
func parseErrorBody(b []byte) errorBody {
	var eb errorBody
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return eb
	}
	var top map[string]json.RawMessage
	if b[0] != '{' || json.Unmarshal(b, &top) != nil {
		eb.Message = clip(string(b))
		return eb
	}
	fields := top
	if raw, ok := top["error"]; ok {
		var inner map[string]json.RawMessage
		if json.Unmarshal(raw, &inner) == nil && inner != nil {
			fields = inner
		} else {
			// {"error":"text"}, or something stranger kept as text.
			eb.Message = clip(jsonText(raw))
		}
	}
	for _, m := range [...]map[string]json.RawMessage{fields, top} {
		if eb.Message == "" {
			eb.Message = clip(jsonText(m["message"]))
		}
		if eb.Message == "" {
			eb.Message = clip(detailText(m["detail"]))
		}
	}
	eb.Type = clip(jsonText(fields["type"]))
	eb.Param = clip(jsonText(fields["param"]))
	eb.Code = clip(jsonText(fields["code"]))
	if n, err := strconv.Atoi(eb.Code); err == nil && n >= 400 && n <= 599 {
		eb.Status = n
	}
	return eb
}

// jsonText renders a JSON value as text: a string unquoted, null as "", a
// number or literal as written, anything else as compact JSON.
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

// detailText renders FastAPI's "detail": a string, or a list of validation
// errors whose "msg" fields are joined.
func detailText(raw json.RawMessage) string {
	var items []struct {
		Msg string `json:"msg"`
	}
	if json.Unmarshal(raw, &items) == nil && len(items) > 0 {
		msgs := make([]string, 0, len(items))
		for _, it := range items {
			if it.Msg != "" {
				msgs = append(msgs, it.Msg)
			}
		}
		if len(msgs) > 0 {
			return strings.Join(msgs, "; ")
		}
	}
	return jsonText(raw)
}

// clip makes s a bounded, valid UTF-8, trimmed message.
func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxMessageBytes {
		i := maxMessageBytes
		for i > maxMessageBytes-utf8.UTFMax && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// classify maps an HTTP status (zero for an error event inside a stream) and
// an error body to a Kind. Vendor codes and messages are read here and
// nowhere else.
func classify(status int, eb errorBody) llm.Kind {
	code := strings.ToLower(eb.Code)
	typ := strings.ToLower(eb.Type)
	switch {
	case code == "content_filter" || code == "content_policy_violation" || typ == "content_filter":
		return llm.KindContentFilter
	case code == "context_length_exceeded" || typ == "context_length_exceeded":
		return llm.KindContextLength
	}
	st := status
	if st == 0 {
		st = eb.Status
	}
	switch {
	case st == http.StatusTooManyRequests:
		return llm.KindRateLimited
	case st >= 500:
		return llm.KindForStatus(st)
	case st == 0 || st == http.StatusBadRequest || st == http.StatusRequestEntityTooLarge || st == http.StatusUnprocessableEntity:
		if contextLengthMessage(eb.Message) {
			return llm.KindContextLength
		}
	}
	if code == "model_not_found" || code == "deploymentnotfound" {
		return llm.KindNotFound
	}
	if st >= 400 {
		return llm.KindForStatus(st)
	}
	if status != 0 {
		// A 1xx or 3xx that was not followed.
		return llm.KindForStatus(status)
	}
	// An error event inside a stream: only the type or code can tell.
	for _, s := range [...]string{code, typ} {
		switch s {
		case "rate_limit_exceeded", "rate_limit_error", "ratelimiterror", "insufficient_quota":
			return llm.KindRateLimited
		case "overloaded", "overloaded_error", "server_overloaded", "engine_overloaded":
			return llm.KindOverloaded
		case "invalid_request_error", "badrequesterror", "bad_request":
			return llm.KindBadRequest
		case "authentication_error", "invalid_api_key", "permission_error", "permission_denied":
			return llm.KindAuth
		case "not_found_error", "notfounderror":
			return llm.KindNotFound
		case "timeout", "timeout_error":
			return llm.KindTimeout
		}
	}
	return llm.KindServer
}

// contextLengthPhrases are how servers that send no code say that a prompt
// does not fit (OpenAI, vLLM, Mistral, TGI, Ollama, Anthropic-compatible).
var contextLengthPhrases = [...]string{
	"maximum context length",
	"context length",
	"context_length",
	"context window",
	"reduce the length of the messages",
	"prompt is too long",
	"`inputs` tokens + `max_new_tokens`",
}

func contextLengthMessage(msg string) bool {
	m := strings.ToLower(msg)
	for _, p := range contextLengthPhrases {
		if strings.Contains(m, p) {
			return true
		}
	}
	return false
}

// statusError turns a non-2xx answer into an *llm.Error.
func (c *Client) statusError(status int, h http.Header, body []byte, model string) *llm.Error {
	eb := parseErrorBody(body)
	msg := eb.Message
	if msg == "" {
		msg = strings.ToLower(http.StatusText(status))
		if msg == "" {
			msg = fmt.Sprintf("status %d", status)
		}
	}
	return &llm.Error{
		Kind:       classify(status, eb),
		Status:     status,
		Code:       eb.Code,
		Type:       eb.Type,
		Param:      eb.Param,
		Message:    c.redact(msg),
		RetryAfter: retryAfter(h, time.Now()),
		RateLimit:  rateLimit(h),
		Provider:   c.name,
		Model:      model,
	}
}

// eventError turns an error event inside a 200 stream into an *llm.Error.
func (c *Client) eventError(data []byte, model string) *llm.Error {
	eb := parseErrorBody(data)
	msg := eb.Message
	if msg == "" {
		msg = "error event in stream"
	}
	return &llm.Error{
		Kind:     classify(0, eb),
		Code:     eb.Code,
		Type:     eb.Type,
		Param:    eb.Param,
		Message:  c.redact(msg),
		Provider: c.name,
		Model:    model,
	}
}

// retryAfter reads the wait an upstream asked for: retry-after-ms (OpenAI,
// Azure), then Retry-After in seconds or as an HTTP date. Zero when absent
// or unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < math.MaxInt64/float64(time.Millisecond) {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s > 0 && s < math.MaxInt64/float64(time.Second) {
			return time.Duration(s * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// maxReset bounds a stated reset time; beyond it the value is taken as
// unreadable (a timestamp, a unit mistaken).
const maxReset = 24 * time.Hour

// rateLimit reads what an answer's x-ratelimit-* headers say about the
// upstream's rate limit (OpenAI, Azure OpenAI, Groq and others use these
// names; Anthropic's anthropic-ratelimit-* are not read). It returns nil
// when the answer has none of them. Unreadable values count as not
// stated.
func rateLimit(h http.Header) *llm.RateLimit {
	if h == nil {
		return nil
	}
	rl := &llm.RateLimit{
		RemainingRequests: headerCount(h, "X-Ratelimit-Remaining-Requests"),
		LimitRequests:     headerCount(h, "X-Ratelimit-Limit-Requests"),
		ResetRequests:     parseReset(h.Get("X-Ratelimit-Reset-Requests")),
		RemainingTokens:   headerCount(h, "X-Ratelimit-Remaining-Tokens"),
		LimitTokens:       headerCount(h, "X-Ratelimit-Limit-Tokens"),
		ResetTokens:       parseReset(h.Get("X-Ratelimit-Reset-Tokens")),
		At:                time.Now(),
	}
	if rl.RemainingRequests < 0 && rl.RemainingTokens < 0 {
		return nil
	}
	return rl
}

// headerCount reads a non-negative count, -1 when absent or unreadable.
// A fractional count (some servers send one) is rounded down.
func headerCount(h http.Header, name string) int {
	v := strings.TrimSpace(h.Get(name))
	if v == "" {
		return -1
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > math.MaxInt32 {
			return -1
		}
		return int(n)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f >= 0 && f <= math.MaxInt32) {
		return -1
	}
	return int(f)
}

// parseReset reads a reset time in OpenAI's duration form ("1s", "6m0s",
// "20ms", "2m59.56s") or as a number of seconds; zero when absent,
// negative, above maxReset or unreadable.
func parseReset(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		s, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || !(s >= 0 && s <= maxReset.Seconds()) {
			return 0
		}
		d = time.Duration(s * float64(time.Second))
	}
	if d < 0 || d > maxReset {
		return 0
	}
	return d
}

// transportError maps a failure to get response headers: the context
// ending, a timeout, or a connection that could not be made or was lost.
func (c *Client) transportError(ctx context.Context, model, path string, err error) *llm.Error {
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error repeats the URL; the cause alone says what happened.
		cause = ue.Err
	}
	if k, ok := ctxKind(ctx, err); ok {
		return c.errorf(k, model, cause, "post %s: %v", path, cause)
	}
	kind := llm.KindConnection
	var op *net.OpError
	var ne net.Error
	switch {
	case errors.As(err, &op) && op.Op == "dial":
		// Could not connect, timed out or not.
	case errors.As(err, &ne) && ne.Timeout():
		kind = llm.KindTimeout
	}
	return c.errorf(kind, model, cause, "post %s: %v", path, cause)
}
