package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/oai"
)

// Chat performs a non-streaming chat completion: POST /v1/messages with the
// client's request translated, and the Message translated back into an
// OpenAI chat.completion.
func (c *Client) Chat(ctx context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	body, err := c.buildRequest(req, false)
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, req.Model, body, false)
	if err != nil {
		return nil, err
	}
	b, err := c.errs().ReadBody(ctx, resp, req.Model, maxResponseBytes)
	if err != nil {
		return nil, err
	}
	comp, err := c.decodeMessage(b, req.Model)
	if err != nil {
		return nil, err
	}
	return comp.Response(), nil
}

// Embed is refused: Anthropic has no embeddings API.
func (c *Client) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	return nil, &llm.Error{
		Kind: llm.KindBadRequest, Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "unsupported_feature",
		Message: "Anthropic has no embeddings API", Provider: c.name, Model: req.Model,
	}
}

// wireMessageResponse is a Message, the answer of POST /v1/messages (and
// the message of a stream's message_start).
type wireMessageResponse struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Role       string          `json:"role"`
	Model      string          `json:"model"`
	Content    []wireContent   `json:"content"`
	StopReason string          `json:"stop_reason"`
	Usage      wireUsage       `json:"usage"`
	Error      json.RawMessage `json:"error"`
}

// wireContent is a content block of an answer. Only text and tool_use
// blocks reach the client; thinking and server tool blocks are left out.
type wireContent struct {
	Type  string          `json:"type"`
	Text  string          `json:"text"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// wireUsage is Anthropic's usage object. In a message_delta every field
// is cumulative and any may be absent.
type wireUsage struct {
	InputTokens              *int `json:"input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
}

// tokens holds a call's usage as Anthropic counts it.
type tokens struct {
	input, output, cacheRead, cacheCreation int
}

// update takes the fields u states.
func (t *tokens) update(u wireUsage) {
	for _, f := range [...]struct {
		dst *int
		src *int
	}{{&t.input, u.InputTokens}, {&t.output, u.OutputTokens}, {&t.cacheRead, u.CacheReadInputTokens}, {&t.cacheCreation, u.CacheCreationInputTokens}} {
		if f.src != nil && *f.src >= 0 {
			*f.dst = *f.src
		}
	}
}

// usage is t in OpenAI's terms: every input token, cached or not, is a
// prompt token; the cache reads are the cached tokens and the cache
// writes, priced apart, the cache-write tokens.
func (t tokens) usage() llm.Usage {
	prompt := t.input + t.cacheRead + t.cacheCreation
	return llm.Usage{PromptTokens: prompt, CompletionTokens: t.output, TotalTokens: prompt + t.output,
		CachedTokens: t.cacheRead, CacheWriteTokens: t.cacheCreation}
}

// finishReason maps Anthropic's stop_reason to OpenAI's finish_reason.
func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return oai.FinishLength
	case "tool_use":
		return oai.FinishToolCalls
	case "refusal":
		return oai.FinishContentFilter
	}
	// end_turn, stop_sequence, pause_turn, and anything newer.
	return oai.FinishStop
}

// decodeMessage translates a Message body into a Completion.
func (c *Client) decodeMessage(b []byte, model string) (*oai.Completion, error) {
	var m wireMessageResponse
	if err := json.Unmarshal(b, &m); err != nil {
		e := c.errorf(llm.KindServer, model, err, "response is not a message: %v", err)
		e.Status = http.StatusOK
		return nil, e
	}
	if m.Type == "error" || (m.Type == "" && isPresent(m.Error)) {
		return nil, c.eventError(b, model)
	}
	if m.Type != "message" {
		e := c.errorf(llm.KindServer, model, nil, "response is not a message (type %q)", m.Type)
		e.Status = http.StatusOK
		return nil, e
	}
	comp := &oai.Completion{ID: oai.ID(m.ID), Model: m.Model, Created: time.Now().Unix(), FinishReason: finishReason(m.StopReason)}
	if comp.Model == "" {
		comp.Model = model
	}
	var text bytes.Buffer
	for _, blk := range m.Content {
		switch blk.Type {
		case "text":
			text.WriteString(blk.Text)
		case "tool_use":
			comp.ToolCalls = append(comp.ToolCalls, oai.ToolCall{ID: blk.ID, Name: blk.Name, Arguments: arguments(blk.Input)})
		}
	}
	comp.Text = text.String()
	var t tokens
	t.update(m.Usage)
	comp.Usage = t.usage()
	return comp, nil
}

// arguments renders a tool_use input as OpenAI's arguments: compact JSON
// text, "{}" for none.
func arguments(input json.RawMessage) string {
	var buf bytes.Buffer
	if len(bytes.TrimSpace(input)) == 0 || json.Compact(&buf, input) != nil || buf.String() == "null" {
		return "{}"
	}
	return buf.String()
}

// isPresent reports whether raw holds a JSON value other than null.
func isPresent(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && string(raw) != "null"
}
