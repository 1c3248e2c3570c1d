package sim

// Decoding and validating a Messages API request (anthropic.go serves it).

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/bulwark-ai/bulwark/llm"
)

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
