package anthropic

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/api/openai"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/oai"
)

// messageOut is a Messages API answer.
type messageOut struct {
	ID           string     `json:"id"`
	Type         string     `json:"type"`
	Role         string     `json:"role"`
	Model        string     `json:"model"`
	Content      []blockOut `json:"content"`
	StopReason   *string    `json:"stop_reason"`
	StopSequence *string    `json:"stop_sequence"`
	Usage        usageOut   `json:"usage"`
}

// blockOut is a content block of an answer: text or tool_use.
type blockOut struct {
	Type  string          `json:"type"`
	Text  *string         `json:"text,omitempty"`
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
}

type usageOut struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	OutputTokens             int `json:"output_tokens"`
}

// usageOf maps OpenAI's usage: Anthropic's input_tokens do not include
// the cached ones, which are cache_read_input_tokens.
func usageOf(u llm.Usage) usageOut {
	return usageOut{InputTokens: max(u.PromptTokens-u.CachedTokens, 0), CacheReadInputTokens: u.CachedTokens, OutputTokens: u.CompletionTokens}
}

// stopReason maps an OpenAI finish_reason. OpenAI's format does not say
// which stop sequence ended an answer (nor that one did: "stop" is both),
// so stop is always end_turn and stop_sequence null.
func stopReason(finish string) string {
	switch finish {
	case oai.FinishLength:
		return "max_tokens"
	case oai.FinishToolCalls, "function_call":
		return "tool_use"
	case oai.FinishContentFilter:
		return "refusal"
	}
	return "end_turn"
}

// messageID returns an Anthropic-style id for an OpenAI completion id.
func messageID(id, fallback string) string {
	id = strings.TrimPrefix(id, "chatcmpl-")
	if id == "" {
		id = strings.TrimPrefix(fallback, "req_")
	}
	return "msg_" + id
}

// toolInput returns a tool call's arguments as a tool_use input: an
// object. Arguments that are not a JSON object (a model's malformed call)
// are kept as the string under "arguments" rather than lost.
func toolInput(args string) json.RawMessage {
	b := bytes.TrimSpace([]byte(args))
	if len(b) == 0 {
		return json.RawMessage("{}")
	}
	if b[0] == '{' && json.Valid(b) {
		return b
	}
	out, _ := json.Marshal(map[string]string{"arguments": args})
	return out
}

// completionWire is the part of an OpenAI completion this package reads;
// usage and finish reasons are read from llm.ChatResponse.
type completionWire struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content   *string `json:"content"`
			Refusal   *string `json:"refusal"`
			ToolCalls []struct {
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
}

// dialect writes chat answers and errors in Anthropic's format, for one
// request.
type dialect struct {
	model     string // the model the client asked for
	requestID string
	// prompt is the prompt's estimated tokens, message_start's
	// input_tokens (the final count is in message_delta).
	prompt int
}

func (d *dialect) WriteError(w http.ResponseWriter, err error) { api.WriteAnthropicError(w, err) }

func (d *dialect) WriteCompletion(w http.ResponseWriter, resp *llm.ChatResponse) {
	var c completionWire
	if err := json.Unmarshal(resp.Body, &c); err != nil || len(c.Choices) == 0 {
		api.WriteAnthropicError(w, &llm.Error{Kind: llm.KindServer, Model: resp.Model, Message: "the upstream's answer is not a chat completion"})
		return
	}
	ch := c.Choices[0]
	out := messageOut{ID: messageID(c.ID, d.requestID), Type: "message", Role: "assistant", Model: d.modelOf(c.Model), Content: []blockOut{}, Usage: usageOf(resp.Usage)}
	text := ""
	if ch.Message.Content != nil {
		text = *ch.Message.Content
	}
	if text == "" && ch.Message.Refusal != nil {
		text = *ch.Message.Refusal
	}
	if text != "" {
		out.Content = append(out.Content, blockOut{Type: "text", Text: &text})
	}
	for _, tc := range ch.Message.ToolCalls {
		out.Content = append(out.Content, blockOut{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: toolInput(tc.Function.Arguments)})
	}
	finish := ch.FinishReason
	if len(resp.FinishReasons) > 0 && resp.FinishReasons[0] != "" {
		finish = resp.FinishReasons[0]
	}
	reason := stopReason(finish)
	out.StopReason = &reason
	api.WriteJSON(w, http.StatusOK, out)
}

// modelOf is the model an answer names: the client's, as Anthropic
// answers with the model asked for (the target is in X-Bulwark-Target).
func (d *dialect) modelOf(upstream string) string {
	if d.model != "" {
		return d.model
	}
	return upstream
}

func (d *dialect) Stream(*llm.ChatRequest) openai.StreamEncoder {
	return &streamEncoder{d: d, block: -1, tools: map[int]int{}}
}
