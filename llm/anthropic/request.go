package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/oai"
)

// wireRequest is a Messages API request.
type wireRequest struct {
	Model         string          `json:"model"`
	MaxTokens     int             `json:"max_tokens"`
	System        []wireBlock     `json:"system,omitempty"`
	Messages      []wireMessage   `json:"messages"`
	Tools         []wireTool      `json:"tools,omitempty"`
	ToolChoice    *wireToolChoice `json:"tool_choice,omitempty"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	Metadata      *wireMetadata   `json:"metadata,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
}

type wireMetadata struct {
	UserID string `json:"user_id"`
}

type wireMessage struct {
	Role    string      `json:"role"`
	Content []wireBlock `json:"content"`
}

// wireBlock is a content block of a request: text, image, tool_use or
// tool_result.
type wireBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	Source    *wireSource     `json:"source,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   []wireBlock     `json:"content,omitempty"`
}

type wireSource struct {
	Type      string `json:"type"` // base64 or url
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type wireTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type wireToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

// imageTypes are the media types Anthropic reads images in.
var imageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

// emptySchema is the input_schema of a tool that declares no parameters.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// buildRequest translates the client's request into a Messages API body.
func (c *Client) buildRequest(req *llm.ChatRequest, stream bool) ([]byte, error) {
	r, err := oai.ParseRequest(req)
	if err != nil {
		if le, ok := err.(*llm.Error); ok {
			le.Provider, le.Model = c.name, req.Model
			return nil, le
		}
		return nil, c.errorf(llm.KindBadRequest, req.Model, err, "%v", err)
	}
	w, err := c.translate(r)
	if err != nil {
		return nil, err
	}
	w.Stream = stream
	b, err := json.Marshal(w)
	if err != nil {
		return nil, c.errorf(llm.KindBadRequest, req.Model, err, "encode request: %v", err)
	}
	return b, nil
}

// translate maps an OpenAI request to Anthropic's. What Anthropic cannot
// honour is refused with oai.Unsupported.
func (c *Client) translate(r *oai.Request) (*wireRequest, error) {
	unsupported := func(feature string) error { return oai.Unsupported(c.name, r.Model, feature) }
	bad := func(format string, args ...any) error {
		e := c.errorf(llm.KindBadRequest, r.Model, nil, format, args...)
		e.Status, e.Type = 400, "invalid_request_error"
		return e
	}
	switch {
	case r.N > 1:
		return nil, unsupported("n > 1")
	case r.Logprobs || r.TopLogprobs > 0:
		return nil, unsupported("logprobs")
	case r.ResponseFormat != nil && r.ResponseFormat.Type != "" && r.ResponseFormat.Type != oai.FormatText:
		return nil, unsupported("response_format " + r.ResponseFormat.Type)
	}
	w := &wireRequest{Model: r.Model, MaxTokens: r.MaxTokens, StopSequences: r.Stop, TopP: r.TopP}
	if w.MaxTokens <= 0 {
		w.MaxTokens = c.maxTokens
	}
	if t := r.Temperature; t != nil {
		v := min(max(*t, 0), 1) // OpenAI's range is 0 to 2, Anthropic's 0 to 1
		w.Temperature = &v
	}
	if r.User != "" {
		w.Metadata = &wireMetadata{UserID: r.User}
	}

	for i, m := range r.Messages {
		var role string
		var blocks []wireBlock
		switch m.Role {
		case "system", "developer":
			if text := m.Text(); text != "" {
				w.System = append(w.System, wireBlock{Type: "text", Text: text})
			}
			continue
		case "user":
			role = "user"
			var err error
			if blocks, err = contentBlocks(m.Parts, unsupported); err != nil {
				return nil, err
			}
		case "assistant":
			role = "assistant"
			for _, p := range m.Parts {
				switch {
				case p.Type == oai.PartText && p.Text != "":
					blocks = append(blocks, wireBlock{Type: "text", Text: p.Text})
				case p.Type != oai.PartText:
					return nil, unsupported("assistant content parts of type " + p.Type)
				}
			}
			for j, tc := range m.ToolCalls {
				input, ok := toolInput(tc.Arguments)
				if !ok {
					return nil, bad("messages[%d].tool_calls[%d]: the arguments are not a JSON object", i, j)
				}
				id := tc.ID
				if id == "" { // the legacy function_call, whose result names the function
					id = tc.Name
				}
				blocks = append(blocks, wireBlock{Type: "tool_use", ID: id, Name: tc.Name, Input: input})
			}
		case "tool":
			role = "user"
			result := wireBlock{Type: "tool_result", ToolUseID: m.ToolCallID}
			if m.ToolCallID == "" {
				return nil, bad("messages[%d]: a tool message needs a tool_call_id", i)
			}
			var err error
			if result.Content, err = contentBlocks(m.Parts, unsupported); err != nil {
				return nil, err
			}
			blocks = []wireBlock{result}
		default:
			return nil, bad("messages[%d]: unknown role %q", i, m.Role)
		}
		if len(blocks) == 0 {
			continue // Anthropic refuses empty messages
		}
		if n := len(w.Messages); n > 0 && w.Messages[n-1].Role == role {
			w.Messages[n-1].Content = append(w.Messages[n-1].Content, blocks...)
			continue
		}
		w.Messages = append(w.Messages, wireMessage{Role: role, Content: blocks})
	}
	if len(w.Messages) == 0 {
		return nil, bad("the request has no user or assistant message with content")
	}
	// A trailing assistant message is a prefill, continued by Anthropic,
	// which refuses one that ends in whitespace.
	if last := &w.Messages[len(w.Messages)-1]; last.Role == "assistant" {
		b := &last.Content[len(last.Content)-1]
		if b.Type == "text" {
			b.Text = strings.TrimRight(b.Text, " \t\r\n")
			if b.Text == "" {
				last.Content = last.Content[:len(last.Content)-1]
				if len(last.Content) == 0 {
					w.Messages = w.Messages[:len(w.Messages)-1]
				}
			}
		}
	}

	for _, t := range r.Tools {
		schema := t.Parameters
		if len(bytes.TrimSpace(schema)) == 0 || string(bytes.TrimSpace(schema)) == "null" {
			schema = emptySchema
		}
		w.Tools = append(w.Tools, wireTool{Name: t.Name, Description: t.Description, InputSchema: schema})
	}
	if tc := r.ToolChoice; tc != nil && len(w.Tools) > 0 {
		switch tc.Mode {
		case oai.ToolAuto:
			w.ToolChoice = &wireToolChoice{Type: "auto"}
		case oai.ToolNone:
			w.ToolChoice = &wireToolChoice{Type: "none"}
		case oai.ToolRequired:
			w.ToolChoice = &wireToolChoice{Type: "any"}
		case oai.ToolFunction:
			w.ToolChoice = &wireToolChoice{Type: "tool", Name: tc.Name}
		default:
			return nil, bad("tool_choice: unknown mode %q", tc.Mode)
		}
	} else if tc != nil && (tc.Mode == oai.ToolRequired || tc.Mode == oai.ToolFunction) {
		return nil, bad("tool_choice %s needs tools", tc.Mode)
	}
	if p := r.ParallelToolCalls; p != nil && !*p && len(w.Tools) > 0 {
		if w.ToolChoice == nil {
			w.ToolChoice = &wireToolChoice{Type: "auto"}
		}
		if w.ToolChoice.Type != "none" {
			w.ToolChoice.DisableParallelToolUse = true
		}
	}
	return w, nil
}

// contentBlocks maps user (or tool result) content parts to text and image
// blocks.
func contentBlocks(parts []oai.Part, unsupported func(string) error) ([]wireBlock, error) {
	var blocks []wireBlock
	for _, p := range parts {
		switch p.Type {
		case oai.PartText:
			if p.Text != "" {
				blocks = append(blocks, wireBlock{Type: "text", Text: p.Text})
			}
		case oai.PartImage:
			src, err := imageSource(p, unsupported)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, wireBlock{Type: "image", Source: src})
		default:
			return nil, unsupported("content parts of type " + p.Type)
		}
	}
	return blocks, nil
}

// imageSource maps an image part's URL: a base64 data: URL to a base64
// source, an http(s) URL to a url source (Anthropic fetches it).
func imageSource(p oai.Part, unsupported func(string) error) (*wireSource, error) {
	if mt, _, ok := p.Image(); ok {
		if !imageTypes[mt] {
			return nil, unsupported("images of type " + mt)
		}
		_, data, _ := strings.Cut(p.URL, ",")
		return &wireSource{Type: "base64", MediaType: mt, Data: data}, nil
	}
	if strings.HasPrefix(p.URL, "https://") || strings.HasPrefix(p.URL, "http://") {
		return &wireSource{Type: "url", URL: p.URL}, nil
	}
	return nil, unsupported(fmt.Sprintf("an image URL that is neither a base64 data: URL nor http(s) (%.16s…)", p.URL))
}

// toolInput turns a tool call's arguments (JSON text) into a tool_use
// input, which must be an object; empty arguments are {}.
func toolInput(args string) (json.RawMessage, bool) {
	b := bytes.TrimSpace([]byte(args))
	if len(b) == 0 {
		return json.RawMessage(`{}`), true
	}
	if b[0] != '{' || !json.Valid(b) {
		return nil, false
	}
	return b, true
}
