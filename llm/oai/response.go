package oai

import (
	"encoding/json"

	"github.com/bulwark-ai/bulwark/llm"
)

// The finish reasons of OpenAI's format, which every vendor's are mapped
// to.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCalls     = "tool_calls"
	FinishContentFilter = "content_filter"
)

// Completion is a vendor's whole answer, one choice.
type Completion struct {
	ID, Model string
	Created   int64
	// Text is the answer's text, Refusal the model's refusal, if any.
	Text, Refusal string
	ToolCalls     []ToolCall
	FinishReason  string
	Usage         llm.Usage
}

type wireCompletion struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []wireChoice `json:"choices"`
	Usage   *wireUsage   `json:"usage,omitempty"`
}

type wireChoice struct {
	Index        int         `json:"index"`
	Message      *wireAnswer `json:"message,omitempty"`
	Delta        *wireAnswer `json:"delta,omitempty"`
	Logprobs     *struct{}   `json:"logprobs"`
	FinishReason *string     `json:"finish_reason"`
}

type wireAnswer struct {
	Role      string       `json:"role,omitempty"`
	Content   *string      `json:"content,omitempty"`
	Refusal   *string      `json:"refusal,omitempty"`
	ToolCalls []wireOutput `json:"tool_calls,omitempty"`
}

// wireOutput is a tool call in an answer or a delta.
type wireOutput struct {
	Index    *int           `json:"index,omitempty"`
	ID       string         `json:"id,omitempty"`
	Type     string         `json:"type,omitempty"`
	Function wireOutputCall `json:"function"`
}

type wireOutputCall struct {
	Name      string  `json:"name,omitempty"`
	Arguments *string `json:"arguments,omitempty"`
}

type wireUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
	Details          struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

func usageOf(u llm.Usage) *wireUsage {
	w := &wireUsage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
	if w.TotalTokens == 0 {
		w.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	w.Details.CachedTokens = u.CachedTokens
	return w
}

// Response returns c as an OpenAI chat.completion.
func (c *Completion) Response() *llm.ChatResponse {
	a := &wireAnswer{Role: "assistant"}
	// content is null only when the answer is tool calls alone, as OpenAI
	// sends it.
	if c.Text != "" || len(c.ToolCalls) == 0 {
		a.Content = &c.Text
	}
	if c.Refusal != "" {
		a.Refusal = &c.Refusal
	}
	for _, tc := range c.ToolCalls {
		args := tc.Arguments
		a.ToolCalls = append(a.ToolCalls, wireOutput{ID: tc.ID, Type: "function", Function: wireOutputCall{Name: tc.Name, Arguments: &args}})
	}
	finish := c.FinishReason
	if finish == "" {
		finish = FinishStop
	}
	u := c.Usage
	if u.TotalTokens == 0 {
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	body, err := json.Marshal(wireCompletion{
		ID: c.ID, Object: "chat.completion", Created: c.Created, Model: c.Model,
		Choices: []wireChoice{{Message: a, FinishReason: &finish}}, Usage: usageOf(u),
	})
	if err != nil { // only plain strings and numbers: cannot happen
		panic(err)
	}
	return &llm.ChatResponse{Body: body, Model: c.Model, FinishReasons: []string{finish}, Usage: u}
}

// ChunkEncoder writes one stream's chunks in OpenAI's
// chat.completion.chunk format; every chunk carries its ID, Model and
// Created. It is used by one goroutine.
type ChunkEncoder struct {
	ID, Model string
	Created   int64
}

func (e *ChunkEncoder) chunk(ch wireChoice, u *llm.Usage) *llm.Chunk {
	w := wireCompletion{ID: e.ID, Object: "chat.completion.chunk", Created: e.Created, Model: e.Model, Choices: []wireChoice{}}
	c := &llm.Chunk{Model: e.Model}
	if u != nil {
		uu := *u
		if uu.TotalTokens == 0 {
			uu.TotalTokens = uu.PromptTokens + uu.CompletionTokens
		}
		w.Usage, c.Usage = usageOf(uu), &uu
	} else {
		w.Choices = append(w.Choices, ch)
		c.HasContent = true
		if ch.FinishReason != nil {
			c.FinishReason = *ch.FinishReason
		}
	}
	data, err := json.Marshal(w)
	if err != nil { // only plain strings and numbers: cannot happen
		panic(err)
	}
	c.Data = data
	return c
}

// Role is the first chunk: the assistant role and empty content.
func (e *ChunkEncoder) Role() *llm.Chunk {
	empty := ""
	return e.chunk(wireChoice{Delta: &wireAnswer{Role: "assistant", Content: &empty}}, nil)
}

// Text is a chunk of the answer's text.
func (e *ChunkEncoder) Text(s string) *llm.Chunk {
	return e.chunk(wireChoice{Delta: &wireAnswer{Content: &s}}, nil)
}

// ToolCallStart is the first chunk of the tool call at index: its id and
// the function's name, with empty arguments.
func (e *ChunkEncoder) ToolCallStart(index int, id, name string) *llm.Chunk {
	empty := ""
	return e.chunk(wireChoice{Delta: &wireAnswer{ToolCalls: []wireOutput{{
		Index: &index, ID: id, Type: "function", Function: wireOutputCall{Name: name, Arguments: &empty}}}}}, nil)
}

// ToolCallArgs is a fragment of the arguments of the tool call at index.
func (e *ChunkEncoder) ToolCallArgs(index int, fragment string) *llm.Chunk {
	return e.chunk(wireChoice{Delta: &wireAnswer{ToolCalls: []wireOutput{{
		Index: &index, Function: wireOutputCall{Arguments: &fragment}}}}}, nil)
}

// Finish is the chunk that ends the choice with reason.
func (e *ChunkEncoder) Finish(reason string) *llm.Chunk {
	return e.chunk(wireChoice{Delta: &wireAnswer{}, FinishReason: &reason}, nil)
}

// Usage is the usage chunk: no choices, the stream's usage.
func (e *ChunkEncoder) Usage(u llm.Usage) *llm.Chunk {
	return e.chunk(wireChoice{}, &u)
}

// ID returns an OpenAI-style completion id for a vendor's answer id: the
// vendor's id after "chatcmpl-", so that it can be traced back.
func ID(vendorID string) string { return "chatcmpl-" + vendorID }
