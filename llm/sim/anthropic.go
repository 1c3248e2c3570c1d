package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
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
