package sim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
)

// Anthropic's Messages API (POST /v1/messages), served with the same model
// behaviour as the chat completions endpoint: the request is read in
// Anthropic's shape and turned into an llm.ChatRequest, then goes through
// the same call (chatCall), admission, faults, latencies and token streamer
// as a chat completion; only the rendering differs.
//
//   - Headers: anthropic-version is required (400 without it); x-api-key is
//     accepted and ignored, like Authorization on the OpenAI endpoints.
//   - Errors are {"type":"error","error":{"type":…,"message":…}} with the
//     type of the status: 400 invalid_request_error, 401
//     authentication_error, 403 permission_error, 404 not_found_error, 413
//     request_too_large, 429 rate_limit_error (Retry-After), 500 api_error,
//     503 and 529 overloaded_error, other 5xx api_error. Over capacity is
//     always 529 overloaded_error here, whatever OverCapacityStatus says (it
//     is Anthropic's form of it). The content_filter fault is a 400
//     "Output blocked by content filtering policy". The context window is a
//     400 "prompt is too long: N tokens > M maximum", or, when the prompt
//     fits but max_tokens does not, "input length and `max_tokens` exceed
//     context limit: N + K > M, …".
//   - A stream is message_start, content_block_start, ping, one
//     content_block_delta per token, content_block_stop, message_delta
//     (stop_reason, usage.output_tokens) and message_stop. The error_event
//     fault is an in-band "event: error" with an overloaded_error, then the
//     end; malformed is one content_block_delta whose data is not JSON;
//     no_done leaves out message_stop; cut and stall act as on chat
//     completions.
//   - A trailing assistant message (text only) is a prefill that the answer
//     continues, as Anthropic does: the answer is the one the messages
//     without it would get, from after as many words as the prefill holds.
//   - Tool use: when tools are given and tool_choice forces one (type any:
//     the first tool; type tool: the named one), the answer is a single
//     tool_use block whose input is {"text":"<the answer's words>"},
//     streamed as input_json_delta fragments, with stop_reason tool_use.
//   - usage has input_tokens and output_tokens; the cache fields are 0.
//     Tool definitions and the system prompt count as prompt tokens.
//   - Rate limits are stated in Anthropic's headers, not OpenAI's: on every
//     answer of a model with limits (and on a 429),
//     anthropic-ratelimit-requests-limit, -remaining and -reset, and
//     anthropic-ratelimit-tokens-limit, -remaining and -reset (the single
//     TPM limit: no input-tokens-*/output-tokens-* split), the same state
//     as the x-ratelimit-* headers of the chat completions endpoint, with
//     each reset as an RFC 3339 time (whole seconds, rounded up).

// anthropicVersionHeader is the header every Messages API call must carry.
const anthropicVersionHeader = "Anthropic-Version"

// Anthropic's error types.
const (
	anthInvalidRequest = "invalid_request_error"
	anthAuthentication = "authentication_error"
	anthPermission     = "permission_error"
	anthNotFound       = "not_found_error"
	anthTooLarge       = "request_too_large"
	anthRateLimit      = "rate_limit_error"
	anthAPI            = "api_error"
	anthOverloaded     = "overloaded_error"
)

// anthropicErrorEvent is the data of the error_event fault's event.
const anthropicErrorEvent = `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`

// anthContentFilterMessage is the message of the content_filter fault.
const anthContentFilterMessage = "Output blocked by content filtering policy"

// anthRequest is the Messages API request the simulator accepts. Unknown
// members are rejected, as Anthropic does ("Extra inputs are not
// permitted"), so that a client sending OpenAI-only fields fails.
type anthRequest struct {
	Model         *string          `json:"model"`
	MaxTokens     *int             `json:"max_tokens"`
	System        json.RawMessage  `json:"system"`
	Messages      []anthMessage    `json:"messages"`
	Tools         []anthTool       `json:"tools"`
	ToolChoice    *anthToolChoice  `json:"tool_choice"`
	StopSequences []string         `json:"stop_sequences"`
	Stream        bool             `json:"stream"`
	Temperature   *float64         `json:"temperature"`
	TopP          *float64         `json:"top_p"`
	TopK          *int             `json:"top_k"`
	Metadata      *anthMetadata    `json:"metadata"`
	ServiceTier   string           `json:"service_tier"`
	Thinking      *json.RawMessage `json:"thinking"`
}

type anthMetadata struct {
	UserID string `json:"user_id"`
}

type anthMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// anthBlock is one content block of any type; which members must be set
// depends on the type.
type anthBlock struct {
	Type         string           `json:"type"`
	Text         *string          `json:"text"`
	Source       *anthSource      `json:"source"`
	ID           string           `json:"id"`
	Name         string           `json:"name"`
	Input        json.RawMessage  `json:"input"`
	ToolUseID    string           `json:"tool_use_id"`
	Content      json.RawMessage  `json:"content"`
	IsError      *bool            `json:"is_error"`
	CacheControl *json.RawMessage `json:"cache_control"`
	Citations    *json.RawMessage `json:"citations"`
}

type anthSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
}

type anthTool struct {
	Name         string           `json:"name"`
	Description  string           `json:"description"`
	InputSchema  json.RawMessage  `json:"input_schema"`
	CacheControl *json.RawMessage `json:"cache_control"`
	Type         string           `json:"type"`
}

type anthToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	DisableParallelToolUse *bool  `json:"disable_parallel_tool_use"`
}

// anthCall is a decoded Messages API request: what the common machinery
// needs, and how the answer is to be rendered.
type anthCall struct {
	req *llm.ChatRequest
	// tool is the tool the answer must call ("" for a text answer).
	tool string
}

var toolNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

var anthImageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

// anthInvalid is a 400 invalid_request_error.
func anthInvalid(format string, args ...any) *llm.Error {
	return &llm.Error{Kind: llm.KindBadRequest, Status: http.StatusBadRequest, Type: anthInvalidRequest, Message: fmt.Sprintf(format, args...)}
}

// decodeAnthropic decodes and validates a Messages API request body.
func decodeAnthropic(body []byte) (*anthCall, *llm.Error) {
	var w anthRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		msg := err.Error()
		if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			return nil, anthInvalid("%s: Extra inputs are not permitted", strings.Trim(f, `"`))
		}
		return nil, anthInvalid("invalid JSON body: %v", err)
	}
	switch {
	case w.Model == nil || *w.Model == "":
		return nil, anthInvalid("model: Field required")
	case w.MaxTokens == nil:
		return nil, anthInvalid("max_tokens: Field required")
	case *w.MaxTokens < 1:
		return nil, anthInvalid("max_tokens: Input should be greater than or equal to 1")
	case len(w.Messages) == 0:
		return nil, anthInvalid("messages: at least one message is required")
	}
	if w.Temperature != nil && (*w.Temperature < 0 || *w.Temperature > 1) {
		return nil, anthInvalid("temperature: Input should be less than or equal to 1")
	}
	if w.TopP != nil && (*w.TopP < 0 || *w.TopP > 1) {
		return nil, anthInvalid("top_p: Input should be less than or equal to 1")
	}
	req := &llm.ChatRequest{Model: *w.Model, MaxTokens: *w.MaxTokens, Stream: w.Stream, Stop: w.StopSequences, Body: body}
	if w.Metadata != nil {
		req.User = w.Metadata.UserID
	}

	system, e := anthSystem(w.System)
	if e != nil {
		return nil, e
	}
	// Tool definitions cost prompt tokens, as the system prompt does.
	tools := make(map[string]bool, len(w.Tools))
	var toolText strings.Builder
	for i, t := range w.Tools {
		if t.Type != "" && t.Type != "custom" {
			return nil, anthInvalid("tools.%d.type: Input should be 'custom'", i)
		}
		if !toolNameRE.MatchString(t.Name) {
			return nil, anthInvalid("tools.%d.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'", i)
		}
		if tools[t.Name] {
			return nil, anthInvalid("tools: Tool names must be unique.")
		}
		tools[t.Name] = true
		var schema map[string]json.RawMessage
		if len(t.InputSchema) == 0 || json.Unmarshal(t.InputSchema, &schema) != nil || schema == nil {
			return nil, anthInvalid("tools.%d.input_schema: Input should be a valid dictionary", i)
		}
		if typ := schema["type"]; string(typ) != `"object"` {
			return nil, anthInvalid("tools.%d.input_schema.type: Input should be 'object'", i)
		}
		toolText.WriteString(t.Name + "\n" + t.Description + "\n")
		toolText.Write(t.InputSchema)
	}
	if toolText.Len() > 0 {
		system = strings.TrimPrefix(system+"\n"+toolText.String(), "\n")
	}
	if system != "" {
		req.Messages = append(req.Messages, llm.Message{Role: "system", Content: system})
	}

	call := &anthCall{req: req}
	if tc := w.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto", "none":
		case "any", "tool":
			if len(w.Tools) == 0 {
				return nil, anthInvalid("tool_choice: tool_choice.type %q requires tools", tc.Type)
			}
			call.tool = w.Tools[0].Name
			if tc.Type == "tool" {
				if !tools[tc.Name] {
					return nil, anthInvalid("tool_choice.name: Tool '%s' not found in tools", tc.Name)
				}
				call.tool = tc.Name
			}
		default:
			return nil, anthInvalid("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
		}
	}

	var prevToolUses map[string]bool
	for i, m := range w.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return nil, anthInvalid("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		last := i == len(w.Messages)-1
		text, uses, onlyText, e := anthContent(i, m, prevToolUses)
		if e != nil {
			return nil, e
		}
		if text == "" && !(last && m.Role == "assistant") {
			return nil, anthInvalid("messages: all messages must have non-empty content except for the optional final assistant message")
		}
		prevToolUses = uses
		if last && m.Role == "assistant" && onlyText && call.tool == "" {
			if strings.TrimRight(text, " \t\r\n") != text {
				return nil, anthInvalid("messages: final assistant content cannot end with trailing whitespace")
			}
			if text != "" {
				req.Continue = true
			}
		}
		if last && m.Role == "assistant" && text == "" {
			continue
		}
		req.Messages = append(req.Messages, llm.Message{Role: m.Role, Content: text})
	}
	return call, nil
}

// anthSystem reads system: a string or an array of text blocks.
func anthSystem(raw json.RawMessage) (string, *llm.Error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", anthInvalid("system: Input should be a valid string")
		}
		return s, nil
	}
	var blocks []anthBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", anthInvalid("system: Input should be a valid string or a list of text blocks")
	}
	parts := make([]string, 0, len(blocks))
	for i, b := range blocks {
		if b.Type != "text" || b.Text == nil {
			return "", anthInvalid("system.%d.type: Input should be 'text'", i)
		}
		parts = append(parts, *b.Text)
	}
	return strings.Join(parts, "\n"), nil
}

// anthContent validates message i's content and returns its text (what
// counts as prompt tokens and keys the answer), the ids of its tool_use
// blocks, and whether it holds text blocks only. prev holds the tool_use
// ids of the message before it, which its tool_result blocks must answer.
func anthContent(i int, m anthMessage, prev map[string]bool) (string, map[string]bool, bool, *llm.Error) {
	raw := bytes.TrimSpace(m.Content)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil, false, anthInvalid("messages.%d.content: Field required", i)
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", nil, false, anthInvalid("messages.%d.content: Input should be a valid string", i)
		}
		return s, nil, true, nil
	}
	var blocks []anthBlock
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&blocks); err != nil {
		return "", nil, false, anthInvalid("messages.%d.content: %v", i, err)
	}
	var parts []string
	var uses map[string]bool
	onlyText := true
	for j, b := range blocks {
		at := fmt.Sprintf("messages.%d.content.%d", i, j)
		if b.Type != "text" {
			onlyText = false
		}
		switch b.Type {
		case "text":
			if b.Text == nil {
				return "", nil, false, anthInvalid("%s.text: Field required", at)
			}
			if *b.Text == "" {
				return "", nil, false, anthInvalid("messages: text content blocks must be non-empty")
			}
			parts = append(parts, *b.Text)
		case "image":
			if e := anthImage(at, b.Source); e != nil {
				return "", nil, false, e
			}
			parts = append(parts, "[image]")
		case "tool_use":
			if m.Role != "assistant" {
				return "", nil, false, anthInvalid("%s: tool_use blocks may only appear in assistant messages", at)
			}
			var input map[string]json.RawMessage
			if b.ID == "" || b.Name == "" || json.Unmarshal(b.Input, &input) != nil || input == nil {
				return "", nil, false, anthInvalid("%s: a tool_use block needs an id, a name and an input object", at)
			}
			if uses == nil {
				uses = map[string]bool{}
			}
			uses[b.ID] = true
			parts = append(parts, b.Name+string(b.Input))
		case "tool_result":
			if m.Role != "user" {
				return "", nil, false, anthInvalid("%s: tool_result blocks may only appear in user messages", at)
			}
			if !prev[b.ToolUseID] {
				return "", nil, false, anthInvalid("messages.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", i, b.ToolUseID)
			}
			text, e := anthResultText(at, b.Content)
			if e != nil {
				return "", nil, false, e
			}
			parts = append(parts, text)
		default:
			return "", nil, false, anthInvalid("%s.type: Input tag '%s' found using 'type' does not match any of the expected tags", at, b.Type)
		}
	}
	return strings.Join(parts, "\n"), uses, onlyText, nil
}

// anthImage validates an image block's source.
func anthImage(at string, src *anthSource) *llm.Error {
	switch {
	case src == nil:
		return anthInvalid("%s.source: Field required", at)
	case src.Type == "base64":
		if !anthImageTypes[src.MediaType] {
			return anthInvalid("%s.source.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'", at)
		}
		if _, err := base64.StdEncoding.DecodeString(src.Data); err != nil || src.Data == "" {
			return anthInvalid("%s.source.data: invalid base64 data", at)
		}
	case src.Type == "url":
		if !strings.HasPrefix(src.URL, "https://") && !strings.HasPrefix(src.URL, "http://") {
			return anthInvalid("%s.source.url: Input should be an http or https URL", at)
		}
	default:
		return anthInvalid("%s.source.type: Input should be 'base64' or 'url'", at)
	}
	return nil
}

// anthResultText reads a tool_result's content: absent, a string, or text
// and image blocks.
func anthResultText(at string, raw json.RawMessage) (string, *llm.Error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", anthInvalid("%s.content: Input should be a valid string", at)
		}
		return s, nil
	}
	var blocks []anthBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", anthInvalid("%s.content: Input should be a valid string or list", at)
	}
	var parts []string
	for j, b := range blocks {
		switch {
		case b.Type == "text" && b.Text != nil:
			parts = append(parts, *b.Text)
		case b.Type == "image":
			if e := anthImage(fmt.Sprintf("%s.content.%d", at, j), b.Source); e != nil {
				return "", e
			}
		default:
			return "", anthInvalid("%s.content.%d.type: Input should be 'text' or 'image'", at, j)
		}
	}
	return strings.Join(parts, "\n"), nil
}

// serveMessages answers POST /v1/messages.
func (s *Sim) serveMessages(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(anthropicVersionHeader) == "" {
		writeAnthropicError(w, anthInvalid("anthropic-version: header is required"), nil)
		return
	}
	body, e := readBody(w, r)
	if e != nil {
		writeAnthropicError(w, e, nil)
		return
	}
	a, e := decodeAnthropic(body)
	if e != nil {
		writeAnthropicError(w, e, nil)
		return
	}
	c, e := s.chatCall(a.req)
	if e != nil {
		writeAnthropicError(w, s.anthCallError(a.req, e), nil)
		return
	}
	if !s.startAnthropic(w, r, c) {
		return
	}
	defer c.release()
	if a.req.Stream {
		s.streamAnthropic(w, r, c, a)
		return
	}
	if !waitHTTP(r, c.answerDelay()) {
		return
	}
	anthRateHeader(w.Header(), &c.rate, time.Now())
	// answerHTTP writes the x-ratelimit-* headers of c.rate, which
	// Anthropic does not send: the state is stated above already.
	c.rate = rateInfo{}
	answerHTTP(w, c, appendAnthropicMessage(make([]byte, 0, c.completionSize()+64), c, a))
}

// anthCallError rewrites an error of chatCall in Anthropic's wording.
func (s *Sim) anthCallError(req *llm.ChatRequest, e *llm.Error) *llm.Error {
	switch e.Kind {
	case llm.KindNotFound:
		e.Message = "model: " + req.Model
	case llm.KindContextLength:
		m := s.models[req.Model]
		prompt := promptTokens(req.Messages)
		if prompt > m.window {
			e.Message = fmt.Sprintf("prompt is too long: %d tokens > %d maximum", prompt, m.window)
		} else {
			e.Message = fmt.Sprintf("input length and `max_tokens` exceed context limit: %d + %d > %d, decrease input length or `max_tokens` and try again",
				prompt, req.MaxTokens, m.window)
		}
	}
	e.Type, e.Code, e.Param = "", "", ""
	return e
}

// startAnthropic is startHTTP with Anthropic's error bodies: it admits c
// and applies the faults that answer before any output. It reports whether
// the answer may go on; when it returns true the caller must release c.
func (s *Sim) startAnthropic(w http.ResponseWriter, r *http.Request, c *call) bool {
	if e := c.admit(r.Context()); e != nil {
		if e.Status != 0 { // else the client left while queued
			writeAnthropicError(w, e, &c.rate)
		}
		return false
	}
	switch c.fault.kind {
	case faultReset:
		c.release()
		resetConnection(w)
		return false
	case faultHang:
		<-r.Context().Done()
		c.release()
		return false
	}
	if e := c.refusal(); e != nil {
		c.release()
		if e.Kind == llm.KindContentFilter {
			e.Message = anthContentFilterMessage
		}
		writeAnthropicError(w, e, &c.rate)
		return false
	}
	return true
}

// anthErrorType is Anthropic's error type for an HTTP status.
func anthErrorType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return anthInvalidRequest
	case http.StatusUnauthorized:
		return anthAuthentication
	case http.StatusForbidden:
		return anthPermission
	case http.StatusNotFound:
		return anthNotFound
	case http.StatusRequestEntityTooLarge:
		return anthTooLarge
	case http.StatusTooManyRequests:
		return anthRateLimit
	case http.StatusServiceUnavailable, 529:
		return anthOverloaded
	}
	if status >= 500 {
		return anthAPI
	}
	return anthInvalidRequest
}

// writeAnthropicError answers e in Anthropic's error format. Over capacity
// (the overCapacityError of any model) is a 529 overloaded_error.
func writeAnthropicError(w http.ResponseWriter, e *llm.Error, ri *rateInfo) {
	status, msg := e.Status, e.Message
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if e.Code == "overloaded" && e.Type == typeServer {
		status, msg = 529, "Overloaded"
	}
	var body struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Type = "error"
	body.Error.Type = anthErrorType(status)
	body.Error.Message = msg
	b, _ := json.Marshal(&body) // strings only: cannot fail
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable || status == 529 {
		retryAfterHeader(h, e.RetryAfter)
	}
	if ri != nil {
		anthRateHeader(h, ri, time.Now())
	}
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// anthRateHeader writes ri, the state of a model's rate limits, as
// Anthropic's anthropic-ratelimit-* headers: the counts as they are, each
// reset as the RFC 3339 time (UTC, whole seconds, rounded up so that it is
// never early) at which the limit is back to its initial state.
func anthRateHeader(h http.Header, ri *rateInfo, now time.Time) {
	if ri.hasReq {
		if ri.limitReq > 0 {
			h.Set("Anthropic-Ratelimit-Requests-Limit", strconv.Itoa(ri.limitReq))
		}
		h.Set("Anthropic-Ratelimit-Requests-Remaining", strconv.Itoa(ri.remainingReq))
		h.Set("Anthropic-Ratelimit-Requests-Reset", anthResetTime(now, ri.resetReq))
	}
	if ri.hasTok {
		if ri.limitTok > 0 {
			h.Set("Anthropic-Ratelimit-Tokens-Limit", strconv.Itoa(ri.limitTok))
		}
		h.Set("Anthropic-Ratelimit-Tokens-Remaining", strconv.Itoa(ri.remainingTok))
		h.Set("Anthropic-Ratelimit-Tokens-Reset", anthResetTime(now, ri.resetTok))
	}
}

// anthResetTime is now+d as an RFC 3339 time in UTC, rounded up to the
// second.
func anthResetTime(now time.Time, d time.Duration) string {
	t := now.Add(max(d, 0)).UTC()
	if t2 := t.Truncate(time.Second); t2.Before(t) {
		t = t2.Add(time.Second)
	}
	return t.Format(time.RFC3339)
}

// anthStopReason is the stop_reason of a choice's finish.
func anthStopReason(finish, tool string) string {
	switch {
	case finish == "length":
		return "max_tokens"
	case tool != "":
		return "tool_use"
	}
	return "end_turn"
}

// appendAnthropicID appends the message id.
func appendAnthropicID(b []byte, c *call) []byte {
	b = append(b, `"msg_`...)
	b = appendHex64(b, c.seq)
	return append(b, '"')
}

// appendAnthropicToolID appends the tool_use block's id.
func appendAnthropicToolID(b []byte, c *call) []byte {
	b = append(b, `"toolu_`...)
	b = appendHex64(b, c.seq^hashMul)
	return append(b, '"')
}

// appendAnthropicUsage appends a usage object with output tokens out.
func appendAnthropicUsage(b []byte, c *call, out int) []byte {
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendInt(b, int64(c.prompt), 10)
	b = append(b, `,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":`...)
	b = strconv.AppendInt(b, int64(out), 10)
	return append(b, '}')
}

// appendAnthropicMessage appends the Message JSON of a plain answer. Like
// appendCompletion it generates the answer's words, so it is called once.
func appendAnthropicMessage(b []byte, c *call, a *anthCall) []byte {
	ch := &c.choices[0]
	b = append(b, `{"id":`...)
	b = appendAnthropicID(b, c)
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = append(b, c.m.nameJSON...)
	if a.tool != "" {
		b = append(b, `,"content":[{"type":"tool_use","id":`...)
		b = appendAnthropicToolID(b, c)
		b = append(b, `,"name":"`...)
		b = append(b, a.tool...) // a valid tool name needs no escaping
		b = append(b, `","input":{"text":"`...)
	} else {
		b = append(b, `,"content":[{"type":"text","text":"`...)
	}
	for t := c.skip; t < ch.length; t++ {
		b = ch.words.next(b, t == ch.length-1 && ch.finish == "stop")
	}
	b = append(b, '"')
	if a.tool != "" {
		b = append(b, '}')
	}
	b = append(b, `}],"stop_reason":"`...)
	b = append(b, anthStopReason(ch.finish, a.tool)...)
	b = append(b, `","stop_sequence":null,"usage":`...)
	b = appendAnthropicUsage(b, c, c.total)
	return append(b, '}')
}

// The parts of the streamer's chat.completion.chunk around a token's text
// (one choice, no usage), which streamAnthropic cuts the text from.
const (
	tokenChunkPrefix = `{"index":0,"delta":{"content":"`
	tokenChunkSuffix = `"},"logprobs":null,"finish_reason":null}]}`
)

// Fragments of the tool_use input as input_json_delta partial_json values:
// the input is {"text":"<words>"}.
const (
	toolInputOpen  = `{\"text\":\"`
	toolInputClose = `\"}`
)

// streamAnthropic sends a streamed answer as Anthropic's server-sent
// events. It drives the same streamer as the chat completions endpoint,
// for the same pacing and faults, and renders each of its steps: the role
// chunk opens the message and its content block, each token chunk is a
// content_block_delta (the token's text is cut from the chunk), the finish
// chunk closes the block and carries the stop reason. As streamHTTP, it
// flushes only before a wait and at the end.
func (s *Sim) streamAnthropic(w http.ResponseWriter, r *http.Request, c *call, a *anthCall) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	anthRateHeader(h, &c.rate, time.Now())
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	ctx := r.Context()
	st := newStreamer(c, false)
	scratch := make([]byte, 0, 512)
	out := make([]byte, 0, 512)
	started := false
	var t *time.Timer
	for {
		chunk, step := st.next(scratch[:0])
		scratch = chunk
		if step.wait > 0 {
			if rc.Flush() != nil || sleep(ctx, &t, step.wait) != nil {
				return
			}
		}
		b := out[:0]
		switch step.ev {
		case evPause, evUsage:
			continue
		case evCut:
			rc.Flush()
			panic(http.ErrAbortHandler)
		case evErrorEvent:
			b = append(b, "event: error\ndata: "+anthropicErrorEvent+"\n\n"...)
			w.Write(b)
			rc.Flush()
			return
		case evMalformed:
			b = append(b, "event: content_block_delta\ndata: "+malformedJSON+"\n\n"...)
		case evEnd:
			if c.fault.kind != faultNoDone {
				w.Write([]byte("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"))
			}
			rc.Flush()
			return
		case evChunk:
			switch {
			case !started:
				started = true
				b = appendAnthropicStart(b, c, a)
			case step.finish != "":
				if a.tool != "" {
					b = appendInputDelta(b, toolInputClose)
				}
				b = append(b, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"...)
				b = append(b, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\""...)
				b = append(b, anthStopReason(step.finish, a.tool)...)
				b = append(b, `","stop_sequence":null},"usage":{"output_tokens":`...)
				b = strconv.AppendInt(b, int64(c.total), 10)
				b = append(b, "}}\n\n"...)
			default:
				text, _ := anthTokenText(st.head, chunk) // TestAnthropicTokenShape guards the shape
				if a.tool != "" {
					b = appendInputDelta(b, string(text))
				} else {
					b = append(b, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\""...)
					b = append(b, text...) // the vocabulary needs no escaping
					b = append(b, "\"}}\n\n"...)
				}
			}
		}
		if _, err := w.Write(b); err != nil {
			return
		}
		out = b
	}
}

// appendAnthropicStart appends message_start, the content block's start,
// a ping, and for a tool_use block the opening of its input.
func appendAnthropicStart(b []byte, c *call, a *anthCall) []byte {
	b = append(b, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"...)
	b = appendAnthropicID(b, c)
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = append(b, c.m.nameJSON...)
	b = append(b, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	b = appendAnthropicUsage(b, c, 1)
	b = append(b, "}}\n\n"...)
	b = append(b, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"...)
	if a.tool != "" {
		b = append(b, `{"type":"tool_use","id":`...)
		b = appendAnthropicToolID(b, c)
		b = append(b, `,"name":"`...)
		b = append(b, a.tool...)
		b = append(b, `","input":{}}}`+"\n\n"...)
	} else {
		b = append(b, `{"type":"text","text":""}}`+"\n\n"...)
	}
	b = append(b, "event: ping\ndata: {\"type\":\"ping\"}\n\n"...)
	if a.tool != "" {
		b = appendInputDelta(b, toolInputOpen)
	}
	return b
}

// appendInputDelta appends an input_json_delta event; partial is already
// escaped for a JSON string.
func appendInputDelta(b []byte, partial string) []byte {
	b = append(b, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\""...)
	b = append(b, partial...)
	return append(b, "\"}}\n\n"...)
}

// errAnthropicShape is a streamer token chunk that does not have the shape
// anthTokenText assumes.
var errAnthropicShape = errors.New("streamer token chunk does not have the expected shape")

// anthTokenText cuts a token's text out of a streamer token chunk.
func anthTokenText(head, chunk []byte) ([]byte, error) {
	rest, ok := bytes.CutPrefix(chunk, head)
	if !ok {
		return nil, errAnthropicShape
	}
	rest, ok = bytes.CutPrefix(rest, []byte(tokenChunkPrefix))
	if !ok {
		return nil, errAnthropicShape
	}
	rest, ok = bytes.CutSuffix(rest, []byte(tokenChunkSuffix))
	if !ok {
		return nil, errAnthropicShape
	}
	return rest, nil
}
