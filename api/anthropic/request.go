package anthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/llm/oai"
)

// messagesWire is a Messages API request. Unknown top-level fields are
// refused (as Anthropic does), so that nothing a client asks for is
// silently dropped.
type messagesWire struct {
	Model         *string         `json:"model"`
	MaxTokens     *int            `json:"max_tokens"`
	System        json.RawMessage `json:"system"`
	Messages      *[]messageWire  `json:"messages"`
	Tools         []toolWire      `json:"tools"`
	ToolChoice    *toolChoiceWire `json:"tool_choice"`
	StopSequences []string        `json:"stop_sequences"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	TopK          *int            `json:"top_k"`
	Metadata      *struct {
		UserID *string `json:"user_id"`
	} `json:"metadata"`
	Stream      *bool           `json:"stream"`
	Thinking    json.RawMessage `json:"thinking"`
	ServiceTier *string         `json:"service_tier"`
}

type messageWire struct {
	Role    *string         `json:"role"`
	Content json.RawMessage `json:"content"`
}

// blockWire is a content block. Blocks are read leniently: fields of a
// block Bulwark does not use (citations, cache_control) are ignored.
type blockWire struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text"`
	Source    *sourceWire     `json:"source"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
}

type sourceWire struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
}

type toolWire struct {
	Type         string          `json:"type"`
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"input_schema"`
	CacheControl json.RawMessage `json:"cache_control"`
}

type toolChoiceWire struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	DisableParallelToolUse *bool  `json:"disable_parallel_tool_use"`
}

// maxTokensLimit bounds max_tokens as api/openai bounds it.
const maxTokensLimit = 1 << 24

// maxStopSequences is how many stop sequences OpenAI's format carries.
const maxStopSequences = 4

var imageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

// translated is a Messages request in OpenAI's chat format.
type translated struct {
	model  string
	stream bool
	req    *oai.Request
	body   []byte
}

// decodeMessages decodes and validates a Messages request body and
// translates it to an OpenAI chat request body. count is a count_tokens
// request: max_tokens is not required and stream not allowed.
func decodeMessages(body []byte, count bool) (*translated, error) {
	var w messagesWire
	if err := api.Unmarshal(body, &w, true); err != nil {
		return nil, err
	}
	if w.Model == nil || *w.Model == "" {
		return nil, api.BadRequest("model", "model: field required")
	}
	r := &oai.Request{Model: *w.Model, Temperature: w.Temperature, TopP: w.TopP, Stop: w.StopSequences}
	if !count {
		if w.MaxTokens == nil {
			return nil, api.BadRequest("max_tokens", "max_tokens: field required")
		}
	}
	if w.MaxTokens != nil {
		if *w.MaxTokens < 1 || *w.MaxTokens > maxTokensLimit {
			return nil, api.BadRequest("max_tokens", "max_tokens: must be between 1 and %d, got %d", maxTokensLimit, *w.MaxTokens)
		}
		r.MaxTokens = *w.MaxTokens
	}
	if w.Temperature != nil && (*w.Temperature < 0 || *w.Temperature > 1) {
		return nil, api.BadRequest("temperature", "temperature: must be between 0 and 1, got %g", *w.Temperature)
	}
	if w.TopP != nil && (*w.TopP < 0 || *w.TopP > 1) {
		return nil, api.BadRequest("top_p", "top_p: must be between 0 and 1, got %g", *w.TopP)
	}
	if w.TopK != nil {
		// OpenAI's chat format, which every target is called in, has no
		// top_k: refused rather than dropped.
		return nil, api.BadRequest("top_k", "top_k: not supported by Bulwark, which serves every model through OpenAI's chat format (no top_k); use temperature or top_p")
	}
	if len(w.StopSequences) > maxStopSequences {
		return nil, api.BadRequest("stop_sequences", "stop_sequences: at most %d are supported, got %d", maxStopSequences, len(w.StopSequences))
	}
	for i, s := range w.StopSequences {
		if s == "" {
			return nil, api.BadRequest("stop_sequences", "stop_sequences.%d: must not be empty", i)
		}
	}
	if len(w.Thinking) > 0 && !bytes.Equal(w.Thinking, []byte("null")) {
		var t struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(w.Thinking, &t) != nil || t.Type != "disabled" {
			return nil, api.BadRequest("thinking", "thinking: extended thinking is not supported by Bulwark; leave it out or send {\"type\":\"disabled\"}")
		}
	}
	if w.Metadata != nil && w.Metadata.UserID != nil {
		r.User = *w.Metadata.UserID
	}
	if w.Stream != nil && *w.Stream {
		if count {
			return nil, api.BadRequest("stream", "stream: not allowed when counting tokens")
		}
		r.Stream = true
	}
	system, err := systemText(w.System)
	if err != nil {
		return nil, err
	}
	if system != "" {
		r.Messages = append(r.Messages, oai.Message{Role: "system", Parts: []oai.Part{{Type: oai.PartText, Text: system}}})
	}
	if w.Messages == nil {
		return nil, api.BadRequest("messages", "messages: field required")
	}
	if len(*w.Messages) == 0 {
		return nil, api.BadRequest("messages", "messages: at least one message is required")
	}
	for i, m := range *w.Messages {
		msgs, err := translateMessage(i, m)
		if err != nil {
			return nil, err
		}
		r.Messages = append(r.Messages, msgs...)
	}
	for i, t := range w.Tools {
		at := fmt.Sprintf("tools.%d", i)
		if t.Type != "" && t.Type != "custom" {
			return nil, api.BadRequest(at+".type", "%s.type: server and client tools of type %q are not supported by Bulwark; define the tool with name, description and input_schema", at, t.Type)
		}
		if t.Name == "" {
			return nil, api.BadRequest(at+".name", "%s.name: field required", at)
		}
		schema := bytes.TrimSpace(t.InputSchema)
		if len(schema) == 0 || schema[0] != '{' {
			return nil, api.BadRequest(at+".input_schema", "%s.input_schema: must be a JSON Schema object", at)
		}
		r.Tools = append(r.Tools, oai.Tool{Name: t.Name, Description: t.Description, Parameters: schema})
	}
	if c := w.ToolChoice; c != nil {
		switch c.Type {
		case "auto":
			r.ToolChoice = &oai.ToolChoice{Mode: oai.ToolAuto}
		case "any":
			r.ToolChoice = &oai.ToolChoice{Mode: oai.ToolRequired}
		case "none":
			r.ToolChoice = &oai.ToolChoice{Mode: oai.ToolNone}
		case "tool":
			if c.Name == "" {
				return nil, api.BadRequest("tool_choice.name", "tool_choice.name: field required for type tool")
			}
			r.ToolChoice = &oai.ToolChoice{Mode: oai.ToolFunction, Name: c.Name}
		default:
			return nil, api.BadRequest("tool_choice.type", "tool_choice.type: must be auto, any, tool or none, not %q", c.Type)
		}
		if c.Type != "none" && len(r.Tools) == 0 {
			return nil, api.BadRequest("tool_choice", "tool_choice: requires tools")
		}
		if c.DisableParallelToolUse != nil && *c.DisableParallelToolUse && len(r.Tools) > 0 {
			f := false
			r.ParallelToolCalls = &f
		}
	}
	return &translated{model: r.Model, stream: r.Stream, req: r, body: encodeRequest(r)}, nil
}

// systemText reads system: a string or an array of text blocks.
func systemText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", api.BadRequest("system", "system: must be a string or an array of text blocks")
		}
		return s, nil
	}
	var blocks []blockWire
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", api.BadRequest("system", "system: must be a string or an array of text blocks")
	}
	var b strings.Builder
	for i, bl := range blocks {
		if bl.Type != "text" || bl.Text == nil {
			return "", api.BadRequest("system", "system.%d: must be a text block with text", i)
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(*bl.Text)
	}
	return b.String(), nil
}

// translateMessage translates message i to OpenAI messages: a user
// message's tool_result blocks become tool messages (before the rest of
// it), an assistant message's tool_use blocks become its tool calls.
func translateMessage(i int, m messageWire) ([]oai.Message, error) {
	at := fmt.Sprintf("messages.%d", i)
	if m.Role == nil {
		return nil, api.BadRequest(at+".role", "%s.role: field required", at)
	}
	role := *m.Role
	if role != "user" && role != "assistant" {
		return nil, api.BadRequest(at+".role", "%s.role: must be user or assistant, not %q", at, role)
	}
	content := bytes.TrimSpace(m.Content)
	if len(content) == 0 || bytes.Equal(content, []byte("null")) {
		return nil, api.BadRequest(at+".content", "%s.content: field required", at)
	}
	if content[0] == '"' {
		var s string
		if err := json.Unmarshal(content, &s); err != nil {
			return nil, api.BadRequest(at+".content", "%s.content: must be a string or an array of content blocks", at)
		}
		return []oai.Message{{Role: role, Parts: []oai.Part{{Type: oai.PartText, Text: s}}}}, nil
	}
	var blocks []blockWire
	if err := json.Unmarshal(content, &blocks); err != nil {
		return nil, api.BadRequest(at+".content", "%s.content: must be a string or an array of content blocks", at)
	}
	var out []oai.Message
	msg := oai.Message{Role: role}
	for j, b := range blocks {
		bat := fmt.Sprintf("%s.content.%d", at, j)
		switch b.Type {
		case "text":
			if b.Text == nil {
				return nil, api.BadRequest(bat+".text", "%s.text: field required", bat)
			}
			msg.Parts = append(msg.Parts, oai.Part{Type: oai.PartText, Text: *b.Text})
		case "image":
			if role != "user" {
				return nil, api.BadRequest(bat+".type", "%s: image blocks are allowed in user messages only", bat)
			}
			url, err := imageURL(bat, b.Source)
			if err != nil {
				return nil, err
			}
			msg.Parts = append(msg.Parts, oai.Part{Type: oai.PartImage, URL: url})
		case "tool_use":
			if role != "assistant" {
				return nil, api.BadRequest(bat+".type", "%s: tool_use blocks are allowed in assistant messages only", bat)
			}
			if b.ID == "" || b.Name == "" {
				return nil, api.BadRequest(bat, "%s: a tool_use block needs id and name", bat)
			}
			input := bytes.TrimSpace(b.Input)
			if len(input) == 0 || input[0] != '{' {
				return nil, api.BadRequest(bat+".input", "%s.input: must be an object", bat)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, input); err != nil {
				return nil, api.BadRequest(bat+".input", "%s.input: must be an object", bat)
			}
			msg.ToolCalls = append(msg.ToolCalls, oai.ToolCall{ID: b.ID, Name: b.Name, Arguments: compact.String()})
		case "tool_result":
			if role != "user" {
				return nil, api.BadRequest(bat+".type", "%s: tool_result blocks are allowed in user messages only", bat)
			}
			if b.ToolUseID == "" {
				return nil, api.BadRequest(bat+".tool_use_id", "%s.tool_use_id: field required", bat)
			}
			text, err := resultText(bat, b.Content)
			if err != nil {
				return nil, err
			}
			if b.IsError {
				text = "Error: " + text
			}
			out = append(out, oai.Message{Role: "tool", ToolCallID: b.ToolUseID, Parts: []oai.Part{{Type: oai.PartText, Text: text}}})
		case "":
			return nil, api.BadRequest(bat+".type", "%s.type: field required", bat)
		default:
			return nil, api.BadRequest(bat+".type", "%s.type: content blocks of type %q are not supported by Bulwark; use text, image, tool_use or tool_result", bat, b.Type)
		}
	}
	if len(msg.Parts) > 0 || len(msg.ToolCalls) > 0 {
		out = append(out, msg)
	}
	if len(out) == 0 {
		return nil, api.BadRequest(at+".content", "%s.content: must not be empty", at)
	}
	return out, nil
}

// imageURL returns an image source as the URL of an OpenAI image part: a
// base64 source as a data: URL, a url source as it is.
func imageURL(at string, s *sourceWire) (string, error) {
	if s == nil {
		return "", api.BadRequest(at+".source", "%s.source: field required", at)
	}
	switch s.Type {
	case "base64":
		if !imageTypes[s.MediaType] {
			return "", api.BadRequest(at+".source.media_type", "%s.source.media_type: must be image/jpeg, image/png, image/gif or image/webp, not %q", at, s.MediaType)
		}
		if s.Data == "" {
			return "", api.BadRequest(at+".source.data", "%s.source.data: field required", at)
		}
		if _, err := base64.StdEncoding.DecodeString(s.Data); err != nil {
			return "", api.BadRequest(at+".source.data", "%s.source.data: is not valid base64", at)
		}
		return "data:" + s.MediaType + ";base64," + s.Data, nil
	case "url":
		if !strings.HasPrefix(s.URL, "https://") && !strings.HasPrefix(s.URL, "http://") {
			return "", api.BadRequest(at+".source.url", "%s.source.url: must be an http or https URL", at)
		}
		return s.URL, nil
	}
	return "", api.BadRequest(at+".source.type", "%s.source.type: must be base64 or url, not %q", at, s.Type)
}

// resultText reads a tool_result's content: a string or text blocks.
func resultText(at string, raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", api.BadRequest(at+".content", "%s.content: must be a string or an array of text blocks", at)
		}
		return s, nil
	}
	var blocks []blockWire
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", api.BadRequest(at+".content", "%s.content: must be a string or an array of text blocks", at)
	}
	var b strings.Builder
	for k, bl := range blocks {
		if bl.Type != "text" || bl.Text == nil {
			return "", api.BadRequest(fmt.Sprintf("%s.content.%d", at, k),
				"%s.content.%d: only text blocks are supported in a tool_result by Bulwark, not %q", at, k, bl.Type)
		}
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(*bl.Text)
	}
	return b.String(), nil
}
