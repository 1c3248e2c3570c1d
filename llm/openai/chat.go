package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strconv"

	"github.com/bulwark-ai/bulwark/llm"
)

// Chat performs a non-streaming chat completion: POST {base}/chat/completions
// with the client's body (model replaced, stream false). The response body is
// returned verbatim with its model, finish reasons and usage parsed.
func (c *Client) Chat(ctx context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	body, err := chatBody(req, false)
	if err != nil {
		return nil, c.errorf(llm.KindBadRequest, req.Model, err, "%v", err)
	}
	resp, err := c.post(ctx, "/chat/completions", req.Model, body, false)
	if err != nil {
		return nil, err
	}
	b, err := c.errs().ReadBody(ctx, resp, req.Model, maxResponseBytes)
	if err != nil {
		return nil, err
	}
	f, err := decodeChatResponse(b)
	if err != nil {
		return nil, c.errorf(llm.KindServer, req.Model, err, "response is not a chat completion: %v", err)
	}
	if !f.choices && f.hasError {
		return nil, c.eventError(b, req.Model)
	}
	out := &llm.ChatResponse{Body: b, Model: f.model, FinishReasons: f.finish}
	if out.FinishReasons == nil {
		out.FinishReasons = []string{}
	}
	if f.usage != nil {
		out.Usage = f.usage.usage()
	}
	return out, nil
}

// chatFields is what Chat reads from a response; the body itself is
// relayed as it came.
type chatFields struct {
	model string
	// choices is set when choices is present and not null; finish then
	// holds each choice's finish_reason ("" when null or not a string).
	choices  bool
	finish   []string
	usage    *wireUsage
	hasError bool // error is present and not null
}

// decodeChatResponse reads a response body, which must be JSON, with the
// shallow scanner of the body splice when it can and encoding/json
// otherwise. Validating the body is still needed, since it is relayed
// verbatim; what the scanner saves is decoding it into structs.
func decodeChatResponse(b []byte) (chatFields, error) {
	if json.Valid(b) {
		if f, ok := scanChat(b); ok {
			return f, nil
		}
	}
	return decodeChatJSON(b)
}

// decodeChatJSON reads a response with encoding/json. It is the reference
// for scanChat and handles every body scanChat declines.
func decodeChatJSON(b []byte) (chatFields, error) {
	var w wireChatResponse
	if err := json.Unmarshal(b, &w); err != nil {
		return chatFields{}, err
	}
	f := chatFields{model: w.Model, usage: w.Usage, hasError: isPresent(w.Error)}
	if w.Choices != nil {
		f.choices = true
		f.finish = make([]string, len(w.Choices))
		for i, ch := range w.Choices {
			f.finish[i] = string(ch.FinishReason)
		}
	}
	return f, nil
}

// scanChat reads a response body, which must be valid JSON, without
// reflection: a response costs a handful of allocations instead of about
// twenty (BenchmarkChatResponseDecode). Like scanChunk it reports ok false
// for a shape it leaves to decodeChatJSON (a key that is escaped, not
// ASCII or repeated; a value of a type encoding/json would reject or treat
// specially); FuzzChatResponse checks that the two agree.
func scanChat(b []byte) (f chatFields, ok bool) {
	top, ok := scanTop(b, "", func(v []byte) bool { return scanFinishReasons(v, &f) })
	f.model, f.usage, f.hasError = top.model, top.usage, top.hasError
	return f, ok
}

var (
	keyPromptTokens     = []byte("prompt_tokens")
	keyCompletionTokens = []byte("completion_tokens")
	keyTotalTokens      = []byte("total_tokens")
	keyPromptDetails    = []byte("prompt_tokens_details")
	keyCachedTokens     = []byte("cached_tokens")
)

// scanUsage reads a usage object as encoding/json reads it into wireUsage.
func scanUsage(v []byte) (*wireUsage, bool) {
	var buf [8]member
	ms, err := scanObject(v, buf[:0])
	if err != nil {
		return nil, false
	}
	u := new(wireUsage)
	var seen uint8
	for i := range ms {
		m := &ms[i]
		k := v[m.keyStart+1 : m.keyEnd-1]
		val := v[m.valStart:m.valEnd]
		if !plainKey(k) || len(val) == 0 {
			return nil, false
		}
		var bit uint8
		switch {
		case bytes.EqualFold(k, keyPromptTokens):
			bit = 1
			u.PromptTokens = scanCount(val)
		case bytes.EqualFold(k, keyCompletionTokens):
			bit = 2
			u.CompletionTokens = scanCount(val)
		case bytes.EqualFold(k, keyTotalTokens):
			bit = 4
			u.TotalTokens = scanCount(val)
		case bytes.EqualFold(k, keyPromptDetails):
			bit = 8
			switch {
			case val[0] == '{':
				cached, ok := scanCached(val)
				if !ok {
					return nil, false
				}
				u.PromptTokensDetails = &struct {
					CachedTokens count `json:"cached_tokens"`
				}{cached}
			case !isNull(val):
				return nil, false
			}
		default:
			continue
		}
		if seen&bit != 0 {
			return nil, false
		}
		seen |= bit
	}
	return u, true
}

// scanCached reads prompt_tokens_details.cached_tokens.
func scanCached(v []byte) (count, bool) {
	var buf [8]member
	ms, err := scanObject(v, buf[:0])
	if err != nil {
		return 0, false
	}
	var n count
	seen := false
	for i := range ms {
		m := &ms[i]
		k := v[m.keyStart+1 : m.keyEnd-1]
		if !plainKey(k) || m.valEnd == m.valStart {
			return 0, false
		}
		if bytes.EqualFold(k, keyCachedTokens) {
			if seen {
				return 0, false
			}
			seen = true
			n = scanCount(v[m.valStart:m.valEnd])
		}
	}
	return n, true
}

// scanCount reads a token count as count.UnmarshalJSON does, without
// allocating for a plain number.
func scanCount(v []byte) count {
	if len(v) > 0 && len(v) < 10 {
		n := 0
		for _, c := range v {
			if c < '0' || c > '9' {
				n = -1
				break
			}
			n = n*10 + int(c-'0')
		}
		if n >= 0 {
			return count(n)
		}
	}
	var n count
	_ = n.UnmarshalJSON(v) // it never fails
	return n
}

// scanFinishReasons reads the finish_reason of each choice of the array v.
func scanFinishReasons(v []byte, f *chatFields) bool {
	f.choices = true
	f.finish = make([]string, 0, 2)
	return scanArray(v, func(e []byte) bool {
		reason := ""
		switch {
		case len(e) > 0 && e[0] == '{':
			var ok bool
			if reason, ok = scanFinishReason(e); !ok {
				return false
			}
		case !isNull(e):
			return false
		}
		f.finish = append(f.finish, reason)
		return true
	})
}

// scanFinishReason returns the finish_reason of one choice object.
func scanFinishReason(e []byte) (reason string, ok bool) {
	var buf [8]member
	ms, err := scanObject(e, buf[:0])
	if err != nil {
		return "", false
	}
	seen := false
	for i := range ms {
		m := &ms[i]
		k := e[m.keyStart+1 : m.keyEnd-1]
		if !plainKey(k) {
			return "", false
		}
		if !bytes.EqualFold(k, keyFinishReason) {
			continue
		}
		if seen {
			return "", false
		}
		seen = true
		v := e[m.valStart:m.valEnd]
		if len(v) == 0 {
			return "", false
		}
		if v[0] != '"' {
			continue // null or another scalar: no finish reason
		}
		s := v[1 : len(v)-1]
		if !plainString(s) {
			return "", false
		}
		reason = finishReason(s)
	}
	return reason, true
}

// finishReason returns s as a string, without allocating for the reasons
// OpenAI defines.
func finishReason(s []byte) string {
	switch string(s) {
	case "stop":
		return "stop"
	case "length":
		return "length"
	case "tool_calls":
		return "tool_calls"
	case "content_filter":
		return "content_filter"
	case "function_call":
		return "function_call"
	}
	return string(s)
}

// isPresent reports whether raw holds a JSON value other than null.
func isPresent(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && string(raw) != "null"
}

type wireChatResponse struct {
	Model   string `json:"model"`
	Choices []struct {
		FinishReason nullString `json:"finish_reason"`
	} `json:"choices"`
	Usage *wireUsage      `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// wireUsage is OpenAI's usage object.
type wireUsage struct {
	PromptTokens        count `json:"prompt_tokens"`
	CompletionTokens    count `json:"completion_tokens"`
	TotalTokens         count `json:"total_tokens"`
	PromptTokensDetails *struct {
		CachedTokens count `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

func (w *wireUsage) usage() llm.Usage {
	u := llm.Usage{
		PromptTokens:     int(w.PromptTokens),
		CompletionTokens: int(w.CompletionTokens),
		TotalTokens:      int(w.TotalTokens),
	}
	if w.PromptTokensDetails != nil {
		u.CachedTokens = int(w.PromptTokensDetails.CachedTokens)
	}
	if u.TotalTokens == 0 {
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	return u
}

// count is a token count that tolerates what servers send: null, and
// numbers written as floats.
type count int

func (n *count) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = 0
		return nil
	}
	if v, err := strconv.ParseInt(string(b), 10, 32); err == nil {
		*n = count(max(v, 0))
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || v < 0 || v > math.MaxInt32 {
		// Not a count: ignore it rather than fail the answer.
		*n = 0
		return nil
	}
	*n = count(v)
	return nil
}

// nullString is a string that may be null or another scalar.
type nullString string

func (s *nullString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = nullString(v)
		return nil
	}
	*s = ""
	return nil
}
