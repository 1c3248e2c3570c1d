package sim

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/bulwark-ai/bulwark/llm"
)

// OpenAI's error types and codes the simulator answers with.
const (
	typeInvalidRequest = "invalid_request_error"
	typeServer         = "server_error"
	codeRateLimit      = "rate_limit_exceeded"
	codeContextLength  = "context_length_exceeded"
)

// malformedJSON is the payload of the malformed fault.
const malformedJSON = "{not json"

// errorEventJSON is the data of the error_event fault's event.
const errorEventJSON = `{"error":{"message":"` + errorEventMessage + `","type":"server_error","param":null,"code":"server_error"}}`

const hexDigits = "0123456789abcdef"

func appendHex64(b []byte, v uint64) []byte {
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, hexDigits[(v>>shift)&0xf])
	}
	return b
}

// appendHead appends a chat completion's JSON up to its choices array:
// {"id":…,"object":…,"created":…,"model":…,"system_fingerprint":…,"choices":[
func (c *call) appendHead(b []byte, object string) []byte {
	b = append(b, `{"id":"chatcmpl-`...)
	b = appendHex64(b, c.seq)
	b = append(b, `","object":"`...)
	b = append(b, object...)
	b = append(b, `","created":`...)
	b = strconv.AppendInt(b, c.created, 10)
	b = append(b, `,"model":`...)
	b = append(b, c.m.nameJSON...)
	b = append(b, `,"system_fingerprint":"`...)
	b = append(b, c.s.fingerprint...)
	return append(b, `","choices":[`...)
}

func appendUsage(b []byte, u llm.Usage) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
	return append(b, `,"prompt_tokens_details":{"cached_tokens":0}}`...)
}

// appendCompletion appends the chat.completion JSON of a plain answer. It
// generates the answers' text, so it is called once per call.
func (c *call) appendCompletion(b []byte) []byte {
	b = c.appendHead(b, "chat.completion")
	for i := range c.choices {
		ch := &c.choices[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		if c.script != nil {
			b = append(b, `,"message":`...)
			b = c.script.appendMessage(b)
		} else {
			b = append(b, `,"message":{"role":"assistant","content":"`...)
			for t := range ch.length {
				b = ch.words.next(b, t == ch.length-1 && ch.finish == "stop")
			}
			b = append(b, `","refusal":null,"annotations":[]}`...)
		}
		b = append(b, `,"logprobs":null,"finish_reason":"`...)
		b = append(b, ch.finish...)
		b = append(b, `"}`...)
	}
	b = append(b, `],"usage":`...)
	b = appendUsage(b, c.usage())
	return append(b, '}')
}

// completionSize estimates the length of a plain answer's JSON, to size its
// buffer once.
func (c *call) completionSize() int {
	return 384 + len(c.choices)*160 + c.total*9
}

// appendEmbeddingsEnd closes an embeddings list begun with
// {"object":"list","data":[ and its items.
func appendEmbeddingsEnd(b []byte, m *model, u llm.Usage) []byte {
	b = append(b, `],"model":`...)
	b = append(b, m.nameJSON...)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
	return append(b, `}}`...)
}

// errorBody is OpenAI's error format; empty param and code are null.
type errorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// writeError answers e in OpenAI's error format, with Retry-After when e
// has a RetryAfter and the x-ratelimit-* headers of ri when it is not nil.
func writeError(w http.ResponseWriter, e *llm.Error, ri *rateInfo) {
	var body errorBody
	body.Error.Message = e.Message
	body.Error.Type = e.Type
	body.Error.Param = nullable(e.Param)
	body.Error.Code = nullable(e.Code)
	b, _ := json.Marshal(&body) // strings only: cannot fail
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	retryAfterHeader(h, e.RetryAfter)
	if ri != nil {
		ri.header(h)
	}
	status := e.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, &llm.Error{Status: http.StatusInternalServerError, Type: typeServer, Message: "encode response: " + err.Error()}, nil)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
