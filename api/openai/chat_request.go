package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/llm"
)

// chatWire is the part of a chat completion request Bulwark reads. Every
// other field stays in the raw body and is forwarded as sent.
type chatWire struct {
	Model               *string         `json:"model"`
	Messages            *[]messageWire  `json:"messages"`
	Stream              *bool           `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	N                   *int            `json:"n"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Seed                *int64          `json:"seed"`
	Stop                json.RawMessage `json:"stop"`
	User                *string         `json:"user"`
	ServiceTier         *string         `json:"service_tier"`
}

type streamOptions struct {
	IncludeUsage *bool `json:"include_usage"`
}

type messageWire struct {
	Role       *string         `json:"role"`
	Content    json.RawMessage `json:"content"`
	Name       string          `json:"name"`
	ToolCallID string          `json:"tool_call_id"`
	ToolCalls  json.RawMessage `json:"tool_calls"`
	// FunctionCall is the legacy form of ToolCalls.
	FunctionCall json.RawMessage `json:"function_call"`
}

type contentPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

var roles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true}

// maxCompletionTokens bounds max_tokens and max_completion_tokens: far
// above any model's output limit, and low enough that token and cost
// estimates (times n, at most 128) cannot overflow.
const maxCompletionTokens = 1 << 24

// decodeChat decodes and validates a chat completion request body.
func decodeChat(body []byte) (*llm.ChatRequest, error) {
	var w chatWire
	if err := api.Unmarshal(body, &w, false); err != nil {
		return nil, err
	}
	if w.Model == nil || *w.Model == "" {
		return nil, api.BadRequest("model", "you must provide a model parameter")
	}
	if w.Messages == nil {
		return nil, api.BadRequest("messages", "missing required parameter: messages")
	}
	if len(*w.Messages) == 0 {
		return nil, api.BadRequest("messages", "messages must contain at least one message")
	}
	req := &llm.ChatRequest{Model: *w.Model, Body: body, Messages: make([]llm.Message, len(*w.Messages))}
	for i, m := range *w.Messages {
		msg, err := decodeMessage(i, &m)
		if err != nil {
			return nil, err
		}
		req.Messages[i] = msg
	}
	if w.Stream != nil {
		req.Stream = *w.Stream
	}
	if w.StreamOptions != nil {
		if !req.Stream {
			return nil, api.BadRequest("stream_options", "stream_options is only allowed when stream is true")
		}
		req.IncludeUsage = w.StreamOptions.IncludeUsage != nil && *w.StreamOptions.IncludeUsage
	}
	for _, f := range []struct {
		name string
		v    *int
	}{{"max_tokens", w.MaxTokens}, {"max_completion_tokens", w.MaxCompletionTokens}} {
		if f.v != nil && (*f.v < 1 || *f.v > maxCompletionTokens) {
			return nil, api.BadRequest(f.name, "%s must be between 1 and %d, got %d", f.name, maxCompletionTokens, *f.v)
		}
	}
	switch {
	case w.MaxCompletionTokens != nil:
		req.MaxTokens = *w.MaxCompletionTokens
	case w.MaxTokens != nil:
		req.MaxTokens = *w.MaxTokens
	}
	if w.N != nil {
		if *w.N < 1 || *w.N > 128 {
			return nil, api.BadRequest("n", "n must be between 1 and 128, got %d", *w.N)
		}
		req.N = *w.N
	}
	if w.Temperature != nil && (*w.Temperature < 0 || *w.Temperature > 2) {
		return nil, api.BadRequest("temperature", "temperature must be between 0 and 2, got %g", *w.Temperature)
	}
	if w.TopP != nil && (*w.TopP < 0 || *w.TopP > 1) {
		return nil, api.BadRequest("top_p", "top_p must be between 0 and 1, got %g", *w.TopP)
	}
	req.Seed = w.Seed
	if w.ServiceTier != nil {
		req.ServiceTier = *w.ServiceTier
	}
	if w.User != nil {
		req.User = *w.User
	}
	stop, err := decodeStop(w.Stop)
	if err != nil {
		return nil, err
	}
	req.Stop = stop
	return req, nil
}

func decodeMessage(i int, m *messageWire) (llm.Message, error) {
	if m.Role == nil || !roles[*m.Role] {
		return llm.Message{}, messageError(i, m)
	}
	msg := llm.Message{Role: *m.Role, Name: m.Name, ToolCallID: m.ToolCallID}
	content := bytes.TrimSpace(m.Content)
	// param names the message in errors; it is built only for one.
	param := func() string { return fmt.Sprintf("messages[%d]", i) }
	switch {
	case len(content) == 0 || bytes.Equal(content, []byte("null")):
		hasCalls := len(m.ToolCalls) > 0 && !bytes.Equal(m.ToolCalls, []byte("null")) ||
			len(m.FunctionCall) > 0 && !bytes.Equal(m.FunctionCall, []byte("null"))
		if msg.Role != "assistant" || !hasCalls {
			return llm.Message{}, api.BadRequest(param()+".content", "%s.content is required", param())
		}
	case content[0] == '"':
		// The body was decoded already, so this is a valid JSON string:
		// without escapes its bytes between the quotes are its value
		// (ReadBody checked they are UTF-8).
		if s := content[1 : len(content)-1]; bytes.IndexByte(s, '\\') < 0 {
			msg.Content = string(s)
		} else if err := json.Unmarshal(content, &msg.Content); err != nil {
			return llm.Message{}, api.BadRequest(param()+".content", "%s.content is not a valid string", param())
		}
	case content[0] == '[':
		var parts []contentPart
		if err := json.Unmarshal(content, &parts); err != nil {
			return llm.Message{}, api.BadRequest(param()+".content",
				"%s.content must be a string or an array of content parts like {\"type\":\"text\",\"text\":\"…\"}", param())
		}
		var sb strings.Builder
		for j, p := range parts {
			if p.Type == "" {
				return llm.Message{}, api.BadRequest(fmt.Sprintf("%s.content[%d].type", param(), j), "%s.content[%d].type is required", param(), j)
			}
			if p.Type == "text" {
				if sb.Len() > 0 {
					sb.WriteByte('\n')
				}
				sb.WriteString(p.Text)
			}
		}
		msg.Content = sb.String()
	default:
		return llm.Message{}, api.BadRequest(param()+".content", "%s.content must be a string or an array of content parts", param())
	}
	if msg.Role == "tool" && msg.ToolCallID == "" {
		return llm.Message{}, api.BadRequest(param()+".tool_call_id", "%s.tool_call_id is required for a tool message", param())
	}
	return msg, nil
}

// messageError is the error for message i's missing or unknown role.
func messageError(i int, m *messageWire) error {
	param := fmt.Sprintf("messages[%d]", i)
	if m.Role == nil {
		return api.BadRequest(param+".role", "%s.role is required", param)
	}
	return api.BadRequest(param+".role",
		"%s.role %q is not one of system, developer, user, assistant, tool", param, *m.Role)
}

func decodeStop(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, api.BadRequest("stop", "stop must be a string or an array of strings")
	}
	if len(many) > 4 {
		return nil, api.BadRequest("stop", "stop may hold at most 4 sequences, got %d", len(many))
	}
	return many, nil
}
