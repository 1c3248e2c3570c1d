// Package oai is OpenAI's chat format, typed: the one translation layer
// between the format Bulwark speaks inside — every llm.ChatRequest.Body,
// llm.ChatResponse.Body and llm.Chunk.Data is an OpenAI chat request,
// completion or chunk — and the formats of other vendors. A provider for
// Anthropic, Bedrock or Gemini reads the client's request as a Request
// (ParseRequest), maps it to its vendor, and writes the vendor's answer back
// as a Completion or through a ChunkEncoder, so that every mapping is
// written once, against these types, and nothing Bulwark does after the
// provider (usage, caching, the request log, continuation) depends on the
// vendor.
//
// A request feature a target cannot honour is refused with Unsupported (a
// 400 that names it) rather than dropped; the gateway may then try a target
// that can.
package oai

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/bulwark-ai/bulwark/llm"
)

// Request is an OpenAI chat completion request, with what the providers of
// other vendors need typed.
type Request struct {
	Model          string
	Messages       []Message
	Tools          []Tool
	ToolChoice     *ToolChoice
	ResponseFormat *ResponseFormat
	// Sampling; nil when not sent.
	Temperature, TopP, PresencePenalty, FrequencyPenalty *float64
	// MaxTokens is max_completion_tokens, else max_tokens; 0 when neither
	// was sent.
	MaxTokens int
	Stop      []string
	Seed      *int64
	User      string
	// N is the number of choices asked for; 0 means one.
	N      int
	Stream bool
	// Logprobs and TopLogprobs ask for token log probabilities.
	Logprobs          bool
	TopLogprobs       int
	ParallelToolCalls *bool
	// Continue asks for the rest of the answer whose text so far is the
	// last message, an assistant message (llm.ChatRequest.Continue).
	Continue bool
}

// Message is one chat message. Its content, a string or an array of
// parts on the wire, is always Parts here.
type Message struct {
	// Role is system, developer, user, assistant or tool.
	Role       string
	Parts      []Part
	Name       string
	ToolCalls  []ToolCall
	ToolCallID string
}

// Text returns the message's text parts joined.
func (m Message) Text() string {
	if len(m.Parts) == 1 && m.Parts[0].Type == PartText {
		return m.Parts[0].Text
	}
	var b strings.Builder
	for _, p := range m.Parts {
		if p.Type == PartText {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

// The types of content part.
const (
	PartText  = "text"
	PartImage = "image_url"
	PartAudio = "input_audio"
	PartFile  = "file"
)

// Part is one part of a message's content.
type Part struct {
	Type string
	Text string
	// URL and Detail are an image part's image_url.
	URL    string
	Detail string
}

// Image returns an image part's bytes and media type when its URL is a
// base64 data: URL; ok is false for any other URL (http or https), which
// a vendor may fetch itself or refuse.
func (p Part) Image() (mediaType string, data []byte, ok bool) {
	rest, found := strings.CutPrefix(p.URL, "data:")
	if !found {
		return "", nil, false
	}
	meta, payload, found := strings.Cut(rest, ",")
	if !found {
		return "", nil, false
	}
	mediaType, isBase64 := strings.CutSuffix(meta, ";base64")
	if !isBase64 || mediaType == "" {
		return "", nil, false
	}
	data, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return "", nil, false
	}
	return mediaType, data, true
}

// Tool is a function the model may call.
type Tool struct {
	Name, Description string
	// Parameters is the function's JSON Schema, as the client sent it.
	Parameters json.RawMessage
	Strict     bool
}

// ToolChoice says whether and which tool the model must call.
type ToolChoice struct {
	// Mode is auto, none, required or function (Name is then the one).
	Mode string
	Name string
}

// The tool choice modes.
const (
	ToolAuto     = "auto"
	ToolNone     = "none"
	ToolRequired = "required"
	ToolFunction = "function"
)

// ToolCall is a call of a tool by the model.
type ToolCall struct {
	ID, Name string
	// Arguments is the call's arguments as JSON text, as OpenAI sends them.
	Arguments string
}

// ResponseFormat asks for the answer's format.
type ResponseFormat struct {
	// Type is text, json_object or json_schema (Name, Schema and Strict
	// then describe the schema).
	Type   string
	Name   string
	Schema json.RawMessage
	Strict bool
}

// The response format types.
const (
	FormatText       = "text"
	FormatJSONObject = "json_object"
	FormatJSONSchema = "json_schema"
)

// The wire form of a request, decoded once.
type wireRequest struct {
	Messages            []wireMessage   `json:"messages"`
	Tools               []wireTool      `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ResponseFormat      *wireFormat     `json:"response_format"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	PresencePenalty     *float64        `json:"presence_penalty"`
	FrequencyPenalty    *float64        `json:"frequency_penalty"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Stop                json.RawMessage `json:"stop"`
	Seed                *int64          `json:"seed"`
	User                string          `json:"user"`
	N                   *int            `json:"n"`
	Stream              bool            `json:"stream"`
	Logprobs            bool            `json:"logprobs"`
	TopLogprobs         *int            `json:"top_logprobs"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls"`
	// The legacy function-calling fields.
	Functions    []wireFunction  `json:"functions"`
	FunctionCall json.RawMessage `json:"function_call"`
}

type wireMessage struct {
	Role         string          `json:"role"`
	Content      json.RawMessage `json:"content"`
	Name         string          `json:"name"`
	ToolCalls    []wireToolCall  `json:"tool_calls"`
	ToolCallID   string          `json:"tool_call_id"`
	FunctionCall *wireCall       `json:"function_call"`
	Refusal      json.RawMessage `json:"refusal"`
}

type wirePart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL *struct {
		URL    string `json:"url"`
		Detail string `json:"detail"`
	} `json:"image_url"`
}

type wireTool struct {
	Type     string       `json:"type"`
	Function wireFunction `json:"function"`
}

type wireFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      bool            `json:"strict"`
}

type wireToolCall struct {
	ID       string   `json:"id"`
	Type     string   `json:"type"`
	Function wireCall `json:"function"`
}

type wireCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type wireFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
		Strict bool            `json:"strict"`
	} `json:"json_schema"`
}

// ParseRequest reads req's body as a Request for req.Model. When
// req.Continue is set, the last of req.Messages (the assistant's text so
// far, which the body does not hold) is appended as an assistant message.
// A body that is not a valid chat request is a 400 (KindBadRequest).
func ParseRequest(req *llm.ChatRequest) (*Request, error) {
	var w wireRequest
	if err := json.Unmarshal(req.Body, &w); err != nil {
		return nil, badRequest(req.Model, "the request body is not a chat completion request: %v", err)
	}
	r := &Request{
		Model: req.Model, Temperature: w.Temperature, TopP: w.TopP, PresencePenalty: w.PresencePenalty,
		FrequencyPenalty: w.FrequencyPenalty, Seed: w.Seed, User: w.User, Stream: w.Stream,
		Logprobs: w.Logprobs, ParallelToolCalls: w.ParallelToolCalls, Continue: req.Continue,
	}
	switch {
	case w.MaxCompletionTokens != nil:
		r.MaxTokens = *w.MaxCompletionTokens
	case w.MaxTokens != nil:
		r.MaxTokens = *w.MaxTokens
	}
	if w.N != nil {
		r.N = *w.N
	}
	if w.TopLogprobs != nil {
		r.TopLogprobs = *w.TopLogprobs
	}
	var err error
	if r.Stop, err = stringOrList(w.Stop); err != nil {
		return nil, badRequest(req.Model, "stop must be a string or an array of strings")
	}
	for i, m := range w.Messages {
		msg, err := m.message()
		if err != nil {
			return nil, badRequest(req.Model, "messages[%d]: %v", i, err)
		}
		r.Messages = append(r.Messages, msg)
	}
	if req.Continue && len(req.Messages) > 0 {
		last := req.Messages[len(req.Messages)-1]
		r.Messages = append(r.Messages, Message{Role: "assistant", Parts: []Part{{Type: PartText, Text: last.Content}}})
	}
	for _, t := range w.Tools {
		if t.Type != "" && t.Type != "function" {
			return nil, Unsupported("", req.Model, "tools of type "+t.Type)
		}
		r.Tools = append(r.Tools, t.Function.tool())
	}
	for _, f := range w.Functions {
		r.Tools = append(r.Tools, f.tool())
	}
	choice := w.ToolChoice
	if len(choice) == 0 {
		choice = w.FunctionCall
	}
	if r.ToolChoice, err = toolChoice(choice); err != nil {
		return nil, badRequest(req.Model, "tool_choice: %v", err)
	}
	if f := w.ResponseFormat; f != nil {
		rf := &ResponseFormat{Type: f.Type}
		if s := f.JSONSchema; s != nil {
			rf.Name, rf.Schema, rf.Strict = s.Name, s.Schema, s.Strict
		}
		if rf.Type == FormatJSONSchema && len(rf.Schema) == 0 {
			return nil, badRequest(req.Model, "response_format json_schema needs json_schema.schema")
		}
		r.ResponseFormat = rf
	}
	return r, nil
}

func (f wireFunction) tool() Tool {
	return Tool(f)
}

func (m wireMessage) message() (Message, error) {
	msg := Message{Role: m.Role, Name: m.Name, ToolCallID: m.ToolCallID}
	if m.Role == "" {
		return msg, fmt.Errorf("a message needs a role")
	}
	parts, err := content(m.Content)
	if err != nil {
		return msg, err
	}
	msg.Parts = parts
	for _, c := range m.ToolCalls {
		msg.ToolCalls = append(msg.ToolCalls, ToolCall{ID: c.ID, Name: c.Function.Name, Arguments: c.Function.Arguments})
	}
	if c := m.FunctionCall; c != nil {
		msg.ToolCalls = append(msg.ToolCalls, ToolCall{Name: c.Name, Arguments: c.Arguments})
	}
	if m.Role == "function" { // the legacy form of a tool result
		msg.Role, msg.ToolCallID = "tool", m.Name
	}
	return msg, nil
}

// content reads a message's content: null, a string, or an array of parts.
func content(raw json.RawMessage) ([]Part, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []Part{{Type: PartText, Text: s}}, nil
	}
	var wire []wirePart
	if err := json.Unmarshal(raw, &wire); err != nil {
		return nil, fmt.Errorf("content must be a string or an array of parts")
	}
	parts := make([]Part, 0, len(wire))
	for _, p := range wire {
		switch p.Type {
		case PartText:
			parts = append(parts, Part{Type: PartText, Text: p.Text})
		case PartImage:
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return nil, fmt.Errorf("an image_url part needs image_url.url")
			}
			parts = append(parts, Part{Type: PartImage, URL: p.ImageURL.URL, Detail: p.ImageURL.Detail})
		case "refusal":
			parts = append(parts, Part{Type: PartText, Text: p.Text})
		default:
			parts = append(parts, Part{Type: p.Type})
		}
	}
	return parts, nil
}

// stringOrList reads stop: null, a string or an array of strings.
func stringOrList(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return []string{s}, err
	}
	var l []string
	err := json.Unmarshal(raw, &l)
	return l, err
}

// toolChoice reads tool_choice (or the legacy function_call): "auto",
// "none", "required", or {"type":"function","function":{"name":…}}
// ({"name":…} for function_call).
func toolChoice(raw json.RawMessage) (*ToolChoice, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		switch s {
		case ToolAuto, ToolNone, ToolRequired:
			return &ToolChoice{Mode: s}, nil
		}
		return nil, fmt.Errorf("%q is not auto, none or required", s)
	}
	var o struct {
		Function *struct {
			Name string `json:"name"`
		} `json:"function"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	name := o.Name
	if o.Function != nil {
		name = o.Function.Name
	}
	if name == "" {
		return nil, fmt.Errorf("a function choice needs the function's name")
	}
	return &ToolChoice{Mode: ToolFunction, Name: name}, nil
}

func badRequest(model, format string, args ...any) *llm.Error {
	return &llm.Error{Kind: llm.KindBadRequest, Status: http.StatusBadRequest, Type: "invalid_request_error",
		Model: model, Message: fmt.Sprintf(format, args...)}
}

// Unsupported is the refusal of a request feature the target (provider
// and model) cannot honour: a 400 whose code is unsupported_feature and
// whose message names the feature.
func Unsupported(provider, model, feature string) *llm.Error {
	target := model
	if provider != "" {
		target = provider + "/" + model
	}
	return &llm.Error{Kind: llm.KindBadRequest, Status: http.StatusBadRequest, Type: "invalid_request_error",
		Code: "unsupported_feature", Provider: provider, Model: model,
		Message: fmt.Sprintf("%s cannot honour %s", target, feature)}
}
