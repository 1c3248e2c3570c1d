package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bulwark-ai/bulwark/api"
)

// responsesWire is a Responses API request. Unknown fields are refused,
// so that nothing a client asks for is silently dropped.
type responsesWire struct {
	Model              *string           `json:"model"`
	Input              json.RawMessage   `json:"input"`
	Instructions       *string           `json:"instructions"`
	PreviousResponseID *string           `json:"previous_response_id"`
	Tools              []json.RawMessage `json:"tools"`
	ToolChoice         json.RawMessage   `json:"tool_choice"`
	ParallelToolCalls  *bool             `json:"parallel_tool_calls"`
	MaxOutputTokens    *int              `json:"max_output_tokens"`
	Temperature        *float64          `json:"temperature"`
	TopP               *float64          `json:"top_p"`
	Metadata           map[string]string `json:"metadata"`
	Store              *bool             `json:"store"`
	Stream             *bool             `json:"stream"`
	StreamOptions      json.RawMessage   `json:"stream_options"`
	User               *string           `json:"user"`
	ServiceTier        *string           `json:"service_tier"`
	Text               *struct {
		Format    json.RawMessage `json:"format"`
		Verbosity *string         `json:"verbosity"`
	} `json:"text"`
	Reasoning *struct {
		Effort  *string `json:"effort"`
		Summary *string `json:"summary"`
	} `json:"reasoning"`
	Truncation       *string         `json:"truncation"`
	Include          []string        `json:"include"`
	Background       *bool           `json:"background"`
	Conversation     json.RawMessage `json:"conversation"`
	Prompt           json.RawMessage `json:"prompt"`
	PromptCacheKey   *string         `json:"prompt_cache_key"`
	SafetyIdentifier *string         `json:"safety_identifier"`
}

// item is one conversation item in the canonical form Bulwark stores
// (responses.Stored.Input): a message with content parts, a function
// call or a function call's output.
type item struct {
	Type      string  `json:"type"`
	Role      string  `json:"role,omitempty"`
	Content   []part  `json:"content,omitempty"`
	CallID    string  `json:"call_id,omitempty"`
	Name      string  `json:"name,omitempty"`
	Arguments *string `json:"arguments,omitempty"`
	Output    *string `json:"output,omitempty"`
}

// part is a message's content part: input_text, output_text or
// input_image.
type part struct {
	Type     string  `json:"type"`
	Text     *string `json:"text,omitempty"`
	ImageURL string  `json:"image_url,omitempty"`
	Detail   string  `json:"detail,omitempty"`
}

// itemWire is an item as a client sends it, or as Bulwark answered it
// (an output item of a previous response). It is read leniently: fields
// of an item Bulwark does not use (ids, statuses, annotations) are
// ignored.
type itemWire struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments *string         `json:"arguments"`
	Output    json.RawMessage `json:"output"`
}

type partWire struct {
	Type     string  `json:"type"`
	Text     *string `json:"text"`
	ImageURL *string `json:"image_url"`
	FileID   *string `json:"file_id"`
	Detail   string  `json:"detail"`
	Refusal  *string `json:"refusal"`
}

// functionToolWire is a tool of type function, or file_search.
type functionToolWire struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      *bool           `json:"strict"`
	// file_search
	VectorStoreIDs []string        `json:"vector_store_ids"`
	MaxNumResults  *int            `json:"max_num_results"`
	Filters        json.RawMessage `json:"filters"`
	RankingOptions *struct {
		Ranker         string   `json:"ranker"`
		ScoreThreshold *float64 `json:"score_threshold"`
	} `json:"ranking_options"`
}

var itemRoles = map[string]bool{"user": true, "assistant": true, "system": true, "developer": true}

// decodeResponseInput reads input: a string (one user message) or a list of items.
func decodeResponseInput(raw json.RawMessage) ([]item, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, api.BadRequest("input", "missing required parameter: input")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, api.BadRequest("input", "input is not a valid string")
		}
		return []item{{Type: "message", Role: "user", Content: []part{{Type: "input_text", Text: &s}}}}, nil
	}
	var list []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
		return nil, api.BadRequest("input", "input must be a string or an array of input items")
	}
	return decodeItems("input", list, false)
}

// decodeItems reads items: a request's input (stored false) or items
// Bulwark stored (stored true, where output items other than messages
// and function calls, file_search_call, are skipped).
func decodeItems(param string, list []json.RawMessage, stored bool) ([]item, error) {
	out := make([]item, 0, len(list))
	for i, raw := range list {
		at := fmt.Sprintf("%s[%d]", param, i)
		var w itemWire
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, api.BadRequest(at, "%s must be an input item object", at)
		}
		it, skip, err := decodeItem(at, &w, stored)
		if err != nil {
			return nil, err
		}
		if !skip {
			out = append(out, it)
		}
	}
	return out, nil
}

func decodeItem(at string, w *itemWire, stored bool) (it item, skip bool, err error) {
	switch w.Type {
	case "", "message":
		if !itemRoles[w.Role] {
			if w.Role == "" {
				return item{}, false, api.BadRequest(at+".role", "%s.role is required", at)
			}
			return item{}, false, api.BadRequest(at+".role", "%s.role %q is not one of user, assistant, system, developer", at, w.Role)
		}
		parts, err := decodeContent(at+".content", w.Role, w.Content)
		if err != nil {
			return item{}, false, err
		}
		return item{Type: "message", Role: w.Role, Content: parts}, false, nil
	case "function_call":
		if w.CallID == "" {
			return item{}, false, api.BadRequest(at+".call_id", "%s.call_id is required", at)
		}
		if w.Name == "" {
			return item{}, false, api.BadRequest(at+".name", "%s.name is required", at)
		}
		if w.Arguments == nil {
			return item{}, false, api.BadRequest(at+".arguments", "%s.arguments is required", at)
		}
		return item{Type: w.Type, CallID: w.CallID, Name: w.Name, Arguments: w.Arguments}, false, nil
	case "function_call_output":
		if w.CallID == "" {
			return item{}, false, api.BadRequest(at+".call_id", "%s.call_id is required", at)
		}
		out, err := callOutput(at+".output", w.Output)
		if err != nil {
			return item{}, false, err
		}
		return item{Type: w.Type, CallID: w.CallID, Output: &out}, false, nil
	case "file_search_call", "reasoning":
		// What the model was given for them is in the answer that follows;
		// they carry nothing a chat model can be sent.
		return item{}, true, nil
	}
	if stored {
		return item{}, true, nil
	}
	return item{}, false, api.BadRequest(at+".type",
		"%s.type %q is not supported by Bulwark; use message, function_call or function_call_output items", at, w.Type)
}

// decodeContent reads a message's content: a string or content parts.
func decodeContent(at, role string, raw json.RawMessage) ([]part, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, api.BadRequest(at, "%s is required", at)
	}
	textType := "input_text"
	if role == "assistant" {
		textType = "output_text"
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, api.BadRequest(at, "%s is not a valid string", at)
		}
		return []part{{Type: textType, Text: &s}}, nil
	}
	var ws []partWire
	if raw[0] != '[' || json.Unmarshal(raw, &ws) != nil {
		return nil, api.BadRequest(at, "%s must be a string or an array of content parts", at)
	}
	parts := make([]part, 0, len(ws))
	for j, p := range ws {
		pat := fmt.Sprintf("%s[%d]", at, j)
		switch p.Type {
		case "input_text", "output_text":
			if p.Text == nil {
				return nil, api.BadRequest(pat+".text", "%s.text is required", pat)
			}
			parts = append(parts, part{Type: textType, Text: p.Text})
		case "refusal":
			if p.Refusal == nil {
				return nil, api.BadRequest(pat+".refusal", "%s.refusal is required", pat)
			}
			parts = append(parts, part{Type: textType, Text: p.Refusal})
		case "input_image":
			if role == "assistant" {
				return nil, api.BadRequest(pat+".type", "%s: input_image parts are allowed in user, system and developer messages only", pat)
			}
			if p.ImageURL == nil || *p.ImageURL == "" {
				if p.FileID != nil {
					return nil, api.BadRequest(pat+".file_id", "%s.file_id: images by file id are not supported by Bulwark; send image_url (an https or data: URL)", pat)
				}
				return nil, api.BadRequest(pat+".image_url", "%s.image_url is required", pat)
			}
			switch p.Detail {
			case "", "auto", "low", "high":
			default:
				return nil, api.BadRequest(pat+".detail", "%s.detail must be auto, low or high, not %q", pat, p.Detail)
			}
			parts = append(parts, part{Type: "input_image", ImageURL: *p.ImageURL, Detail: p.Detail})
		case "":
			return nil, api.BadRequest(pat+".type", "%s.type is required", pat)
		default:
			return nil, api.BadRequest(pat+".type", "%s.type %q is not supported by Bulwark; use input_text, output_text or input_image", pat, p.Type)
		}
	}
	if len(parts) == 0 {
		return nil, api.BadRequest(at, "%s must not be empty", at)
	}
	return parts, nil
}

// callOutput reads a function_call_output's output: a string, or text
// parts joined.
func callOutput(at string, raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", api.BadRequest(at, "%s is required", at)
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", api.BadRequest(at, "%s is not a valid string", at)
		}
		return s, nil
	}
	var ws []partWire
	if raw[0] != '[' || json.Unmarshal(raw, &ws) != nil {
		return "", api.BadRequest(at, "%s must be a string or an array of input_text parts", at)
	}
	var b strings.Builder
	for j, p := range ws {
		if p.Type != "input_text" || p.Text == nil {
			return "", api.BadRequest(fmt.Sprintf("%s[%d]", at, j), "%s[%d]: only input_text parts with text are supported by Bulwark in a function call's output", at, j)
		}
		b.WriteString(*p.Text)
	}
	return b.String(), nil
}
