package openai

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	up "github.com/bulwark-ai/bulwark/llm/upstream"
)

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
		eb.Message = up.Clip(string(b))
		return eb
	}
	fields := top
	if raw, ok := top["error"]; ok {
		var inner map[string]json.RawMessage
		if json.Unmarshal(raw, &inner) == nil && inner != nil {
			fields = inner
		} else {
			// {"error":"text"}, or something stranger kept as text.
			eb.Message = up.Clip(jsonText(raw))
		}
	}
	for _, m := range [...]map[string]json.RawMessage{fields, top} {
		if eb.Message == "" {
			eb.Message = up.Clip(jsonText(m["message"]))
		}
		if eb.Message == "" {
			eb.Message = up.Clip(detailText(m["detail"]))
		}
	}
	eb.Type = up.Clip(jsonText(fields["type"]))
	eb.Param = up.Clip(jsonText(fields["param"]))
	eb.Code = up.Clip(jsonText(fields["code"]))
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
		msg = up.StatusMessage(status)
	}
	return &llm.Error{
		Kind:       classify(status, eb),
		Status:     status,
		Code:       eb.Code,
		Type:       eb.Type,
		Param:      eb.Param,
		Message:    c.errs().Redact(msg),
		RetryAfter: up.RetryAfter(h, time.Now()),
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
		Message:  c.errs().Redact(msg),
		Provider: c.name,
		Model:    model,
	}
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
		RemainingRequests: up.HeaderCount(h, "X-Ratelimit-Remaining-Requests"),
		LimitRequests:     up.HeaderCount(h, "X-Ratelimit-Limit-Requests"),
		ResetRequests:     parseReset(h.Get("X-Ratelimit-Reset-Requests")),
		RemainingTokens:   up.HeaderCount(h, "X-Ratelimit-Remaining-Tokens"),
		LimitTokens:       up.HeaderCount(h, "X-Ratelimit-Limit-Tokens"),
		ResetTokens:       parseReset(h.Get("X-Ratelimit-Reset-Tokens")),
		At:                time.Now(),
	}
	if rl.RemainingRequests < 0 && rl.RemainingTokens < 0 {
		return nil
	}
	return rl
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
