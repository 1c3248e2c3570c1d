package anthropic

import (
	"encoding/json"

	"github.com/bulwark-ai/bulwark/llm/oai"
)

// encodeRequest writes r as an OpenAI chat completion request body: the
// reverse of oai.ParseRequest, for the fields a Messages request fills.
// (llm/oai reads requests and writes answers, the providers' direction;
// this is the other one, and only this package needs it.)
func encodeRequest(r *oai.Request) []byte {
	type fn struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
		Arguments   *string         `json:"arguments,omitempty"`
	}
	type typed struct {
		Type     string `json:"type"`
		ID       string `json:"id,omitempty"`
		Function fn     `json:"function"`
	}
	type part struct {
		Type     string `json:"type"`
		Text     string `json:"text,omitempty"`
		ImageURL *struct {
			URL string `json:"url"`
		} `json:"image_url,omitempty"`
	}
	type message struct {
		Role       string  `json:"role"`
		Content    any     `json:"content"`
		ToolCalls  []typed `json:"tool_calls,omitempty"`
		ToolCallID string  `json:"tool_call_id,omitempty"`
	}
	type streamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	}
	body := struct {
		Model             string         `json:"model"`
		Messages          []message      `json:"messages"`
		MaxTokens         int            `json:"max_tokens,omitempty"`
		Temperature       *float64       `json:"temperature,omitempty"`
		TopP              *float64       `json:"top_p,omitempty"`
		Stop              []string       `json:"stop,omitempty"`
		User              string         `json:"user,omitempty"`
		Tools             []typed        `json:"tools,omitempty"`
		ToolChoice        any            `json:"tool_choice,omitempty"`
		ParallelToolCalls *bool          `json:"parallel_tool_calls,omitempty"`
		Stream            bool           `json:"stream,omitempty"`
		StreamOptions     *streamOptions `json:"stream_options,omitempty"`
	}{
		Model: r.Model, MaxTokens: r.MaxTokens, Temperature: r.Temperature, TopP: r.TopP,
		Stop: r.Stop, User: r.User, ParallelToolCalls: r.ParallelToolCalls, Stream: r.Stream,
	}
	if r.Stream {
		// Always ask for usage: message_delta reports it.
		body.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	for _, m := range r.Messages {
		out := message{Role: m.Role, ToolCallID: m.ToolCallID}
		switch {
		case len(m.Parts) == 0:
			// An assistant message of tool calls alone: null content.
		case onlyText(m.Parts):
			out.Content = m.Text()
		default:
			parts := make([]part, 0, len(m.Parts))
			for _, p := range m.Parts {
				switch p.Type {
				case oai.PartImage:
					parts = append(parts, part{Type: p.Type, ImageURL: &struct {
						URL string `json:"url"`
					}{p.URL}})
				default:
					parts = append(parts, part{Type: oai.PartText, Text: p.Text})
				}
			}
			out.Content = parts
		}
		for _, c := range m.ToolCalls {
			args := c.Arguments
			out.ToolCalls = append(out.ToolCalls, typed{Type: "function", ID: c.ID, Function: fn{Name: c.Name, Arguments: &args}})
		}
		body.Messages = append(body.Messages, out)
	}
	for _, t := range r.Tools {
		body.Tools = append(body.Tools, typed{Type: "function", Function: fn{Name: t.Name, Description: t.Description, Parameters: t.Parameters}})
	}
	if c := r.ToolChoice; c != nil {
		if c.Mode == oai.ToolFunction {
			body.ToolChoice = typed{Type: "function", Function: fn{Name: c.Name}}
		} else {
			body.ToolChoice = c.Mode
		}
	}
	b, err := json.Marshal(body)
	if err != nil { // strings, numbers and valid JSON only: cannot happen
		panic(err)
	}
	return b
}

func onlyText(parts []oai.Part) bool {
	for _, p := range parts {
		if p.Type != oai.PartText {
			return false
		}
	}
	return true
}
