package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/rag"
)

// responsesRequest is a decoded, validated Responses API request.
type responsesRequest struct {
	model        string
	input        []item // this request's items
	instructions *string
	previousID   string
	// tools are echoed back as sent; functions are the function tools in
	// the chat format; fileSearch is the file_search tool, if any.
	tools      []json.RawMessage
	functions  []chatTool
	fileSearch *fileSearchTool
	// toolChoice is echoed back ("auto" when not sent); chatToolChoice
	// is sent upstream (nil: not sent).
	toolChoice     json.RawMessage
	chatToolChoice any
	parallel       *bool
	maxOutput      *int
	temperature    *float64
	topP           *float64
	metadata       map[string]string
	store          bool
	stream         bool
	background     bool // run as a job (background.go)
	user           string
	serviceTier    string
	// format is text.format as sent (nil: text); responseFormat is its
	// chat form.
	format          json.RawMessage
	responseFormat  any
	verbosity       string
	reasoningEffort string
	promptCacheKey  string
	safetyID        string
	// prompt is the prompt parameter as sent (nil: none): a prompt of
	// the registry, rendered before the conversation (prompt.go).
	prompt json.RawMessage
	// includeResults: the file_search_call item carries its results
	// (include: file_search_call.results).
	includeResults bool
}

type chatTool struct {
	Type     string       `json:"type"`
	Function chatFunction `json:"function"`
}

type chatFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// fileSearchTool is the file_search tool: retrieval that Bulwark runs
// itself before calling the model.
type fileSearchTool struct {
	storeIDs       []string
	max            int
	filter         *rag.Filter
	rerank         bool
	scoreThreshold float64
}

// Bounds of a Responses request.
const (
	maxMetadataKeys     = 16
	maxMetadataKey      = 64
	maxMetadataValue    = 512
	maxFileSearchStores = 10
)

// decodeResponses decodes and validates a Responses API request body.
func decodeResponses(body []byte) (*responsesRequest, error) {
	var w responsesWire
	if err := api.Unmarshal(body, &w, true); err != nil {
		return nil, err
	}
	hasPrompt := len(w.Prompt) > 0 && !bytes.Equal(bytes.TrimSpace(w.Prompt), []byte("null"))
	if (w.Model == nil || *w.Model == "") && !hasPrompt {
		return nil, api.BadRequest("model", "you must provide a model parameter")
	}
	model := ""
	if w.Model != nil {
		model = *w.Model
	}
	r := &responsesRequest{model: model, instructions: w.Instructions, parallel: w.ParallelToolCalls,
		maxOutput: w.MaxOutputTokens, temperature: w.Temperature, topP: w.TopP, store: true, metadata: w.Metadata}
	var err error
	if r.input, err = decodeResponseInput(w.Input); err != nil {
		return nil, err
	}
	if w.PreviousResponseID != nil {
		if *w.PreviousResponseID == "" {
			return nil, api.BadRequest("previous_response_id", "previous_response_id must not be empty")
		}
		r.previousID = *w.PreviousResponseID
	}
	if w.Store != nil {
		r.store = *w.Store
	}
	if w.Stream != nil {
		r.stream = *w.Stream
	}
	if len(w.StreamOptions) > 0 && !bytes.Equal(w.StreamOptions, []byte("null")) && !r.stream {
		return nil, api.BadRequest("stream_options", "stream_options is only allowed when stream is true")
	}
	if m := w.MaxOutputTokens; m != nil && (*m < 1 || *m > maxCompletionTokens) {
		return nil, api.BadRequest("max_output_tokens", "max_output_tokens must be between 1 and %d, got %d", maxCompletionTokens, *m)
	}
	if t := w.Temperature; t != nil && (*t < 0 || *t > 2) {
		return nil, api.BadRequest("temperature", "temperature must be between 0 and 2, got %g", *t)
	}
	if p := w.TopP; p != nil && (*p < 0 || *p > 1) {
		return nil, api.BadRequest("top_p", "top_p must be between 0 and 1, got %g", *p)
	}
	if err := checkResponseMetadata(w.Metadata); err != nil {
		return nil, err
	}
	if w.User != nil {
		r.user = *w.User
	}
	if w.ServiceTier != nil {
		r.serviceTier = *w.ServiceTier
	}
	if w.PromptCacheKey != nil {
		r.promptCacheKey = *w.PromptCacheKey
	}
	if hasPrompt {
		r.prompt = w.Prompt
	}
	if w.SafetyIdentifier != nil {
		r.safetyID = *w.SafetyIdentifier
	}
	if w.Background != nil && *w.Background {
		if err := checkBackground(r); err != nil {
			return nil, err
		}
		r.background = true
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"conversation", w.Conversation}} {
		if len(f.raw) > 0 && !bytes.Equal(f.raw, []byte("null")) {
			return nil, api.BadRequest(f.name, "%s is not supported by Bulwark; send the input (and previous_response_id) instead", f.name)
		}
	}
	if w.Truncation != nil && *w.Truncation != "disabled" {
		return nil, api.BadRequest("truncation", "truncation %q is not supported by Bulwark; leave it out or send \"disabled\" (a prompt too long for the model is a 400)", *w.Truncation)
	}
	if w.Reasoning != nil && w.Reasoning.Effort != nil {
		r.reasoningEffort = *w.Reasoning.Effort
	}
	for i, inc := range w.Include {
		switch inc {
		case "file_search_call.results":
			r.includeResults = true
		case "message.output_text.logprobs", "reasoning.encrypted_content", "message.input_image.image_url",
			"web_search_call.action.sources", "code_interpreter_call.outputs", "computer_call_output.output.image_url":
			// Nothing Bulwark answers carries them.
		default:
			return nil, api.BadRequest(fmt.Sprintf("include[%d]", i), "include[%d] %q is not a value Bulwark knows", i, inc)
		}
	}
	if w.Text != nil {
		if w.Text.Verbosity != nil {
			r.verbosity = *w.Text.Verbosity
		}
		if err := r.decodeFormat(w.Text.Format); err != nil {
			return nil, err
		}
	}
	r.tools = w.Tools
	if err := r.decodeTools(w.Tools); err != nil {
		return nil, err
	}
	if err := r.decodeToolChoice(w.ToolChoice); err != nil {
		return nil, err
	}
	return r, nil
}

func checkResponseMetadata(m map[string]string) error {
	if len(m) > maxMetadataKeys {
		return api.BadRequest("metadata", "metadata may hold at most %d keys, got %d", maxMetadataKeys, len(m))
	}
	for k, v := range m {
		if utf8.RuneCountInString(k) > maxMetadataKey {
			return api.BadRequest("metadata", "metadata keys may be at most %d characters long", maxMetadataKey)
		}
		if utf8.RuneCountInString(v) > maxMetadataValue {
			return api.BadRequest("metadata", "metadata values may be at most %d characters long", maxMetadataValue)
		}
	}
	return nil
}

// decodeFormat reads text.format: text, json_object or json_schema.
func (r *responsesRequest) decodeFormat(raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var f struct {
		Type        string          `json:"type"`
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Schema      json.RawMessage `json:"schema"`
		Strict      *bool           `json:"strict"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return api.BadRequest("text.format", "text.format must be an object like {\"type\":\"text\"}")
	}
	r.format = raw
	switch f.Type {
	case "text":
	case "json_object":
		r.responseFormat = map[string]string{"type": "json_object"}
	case "json_schema":
		if f.Name == "" {
			return api.BadRequest("text.format.name", "text.format.name is required for json_schema")
		}
		if s := bytes.TrimSpace(f.Schema); len(s) == 0 || s[0] != '{' {
			return api.BadRequest("text.format.schema", "text.format.schema must be a JSON Schema object")
		}
		js := map[string]any{"name": f.Name, "schema": f.Schema}
		if f.Description != "" {
			js["description"] = f.Description
		}
		if f.Strict != nil {
			js["strict"] = *f.Strict
		}
		r.responseFormat = map[string]any{"type": "json_schema", "json_schema": js}
	default:
		return api.BadRequest("text.format.type", "text.format.type must be text, json_object or json_schema, not %q", f.Type)
	}
	return nil
}

// decodeTools reads the tools: functions and one file_search.
func (r *responsesRequest) decodeTools(tools []json.RawMessage) error {
	for i, raw := range tools {
		at := fmt.Sprintf("tools[%d]", i)
		var t functionToolWire
		if err := json.Unmarshal(raw, &t); err != nil {
			return api.BadRequest(at, "%s must be a tool object", at)
		}
		switch t.Type {
		case "function":
			if t.Name == "" {
				return api.BadRequest(at+".name", "%s.name is required", at)
			}
			params := bytes.TrimSpace(t.Parameters)
			if bytes.Equal(params, []byte("null")) {
				params = nil
			}
			if len(params) > 0 && params[0] != '{' {
				return api.BadRequest(at+".parameters", "%s.parameters must be a JSON Schema object", at)
			}
			r.functions = append(r.functions, chatTool{Type: "function",
				Function: chatFunction{Name: t.Name, Description: t.Description, Parameters: params, Strict: t.Strict}})
		case "file_search":
			if r.fileSearch != nil {
				return api.BadRequest(at, "%s: only one file_search tool may be given", at)
			}
			fs, err := decodeFileSearch(at, &t)
			if err != nil {
				return err
			}
			r.fileSearch = fs
		case "":
			return api.BadRequest(at+".type", "%s.type is required", at)
		default:
			return api.BadRequest(at+".type", "%s.type %q is not supported by Bulwark; use function or file_search tools", at, t.Type)
		}
	}
	return nil
}

func decodeFileSearch(at string, t *functionToolWire) (*fileSearchTool, error) {
	if len(t.VectorStoreIDs) == 0 {
		return nil, api.BadRequest(at+".vector_store_ids", "%s.vector_store_ids must name at least one vector store", at)
	}
	if len(t.VectorStoreIDs) > maxFileSearchStores {
		return nil, api.BadRequest(at+".vector_store_ids", "%s.vector_store_ids may name at most %d vector stores", at, maxFileSearchStores)
	}
	for j, id := range t.VectorStoreIDs {
		if id == "" {
			return nil, api.BadRequest(fmt.Sprintf("%s.vector_store_ids[%d]", at, j), "%s.vector_store_ids[%d] is empty", at, j)
		}
	}
	filter, err := rag.ParseFilter(t.Filters)
	if err != nil {
		return nil, api.BadRequest(at+".filters", "%s.filters: %s", at, err.Error())
	}
	fs := &fileSearchTool{storeIDs: t.VectorStoreIDs, max: 10, filter: filter, rerank: true}
	if n := t.MaxNumResults; n != nil {
		if *n < 1 || *n > 50 {
			return nil, api.BadRequest(at+".max_num_results", "%s.max_num_results must be from 1 to 50, got %d", at, *n)
		}
		fs.max = *n
	}
	if o := t.RankingOptions; o != nil {
		switch o.Ranker {
		case "", "auto", "default-2024-11-15":
		case "none":
			fs.rerank = false
		default:
			return nil, api.BadRequest(at+".ranking_options.ranker", "%s.ranking_options.ranker must be auto, default-2024-11-15 or none, got %q", at, o.Ranker)
		}
		if s := o.ScoreThreshold; s != nil {
			if *s < 0 || *s > 1 {
				return nil, api.BadRequest(at+".ranking_options.score_threshold", "%s.ranking_options.score_threshold must be from 0 to 1", at)
			}
			fs.scoreThreshold = *s
		}
	}
	return fs, nil
}

// decodeToolChoice reads tool_choice: none, auto, required, or an object
// naming a function (or file_search, which Bulwark always runs when the
// tool is given).
func (r *responsesRequest) decodeToolChoice(raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		r.toolChoice = json.RawMessage(`"auto"`)
		return nil
	}
	r.toolChoice = raw
	var mode string
	if json.Unmarshal(raw, &mode) == nil {
		switch mode {
		case "auto", "none":
			if len(r.functions) > 0 {
				r.chatToolChoice = mode
			}
		case "required":
			if len(r.functions) == 0 {
				return api.BadRequest("tool_choice", "tool_choice required needs function tools")
			}
			r.chatToolChoice = mode
		default:
			return api.BadRequest("tool_choice", "tool_choice must be none, auto, required or an object, not %q", mode)
		}
		return nil
	}
	var c struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return api.BadRequest("tool_choice", "tool_choice must be none, auto, required or an object")
	}
	switch c.Type {
	case "function":
		if c.Name == "" {
			return api.BadRequest("tool_choice.name", "tool_choice.name is required for type function")
		}
		found := false
		for _, f := range r.functions {
			found = found || f.Function.Name == c.Name
		}
		if !found {
			return api.BadRequest("tool_choice.name", "tool_choice.name %q is not one of the function tools", c.Name)
		}
		r.chatToolChoice = map[string]any{"type": "function", "function": map[string]string{"name": c.Name}}
	case "file_search":
		if r.fileSearch == nil {
			return api.BadRequest("tool_choice", "tool_choice file_search needs a file_search tool")
		}
		if len(r.functions) > 0 {
			r.chatToolChoice = "none"
		}
	default:
		return api.BadRequest("tool_choice.type", "tool_choice.type must be function or file_search, not %q", c.Type)
	}
	return nil
}

// chatMessage is a message of the chat request the answer is asked with.
type chatMessage struct {
	Role       string         `json:"role"`
	Content    any            `json:"content"`
	ToolCalls  []chatToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

type chatToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type chatPart struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	ImageURL *struct {
		URL    string `json:"url"`
		Detail string `json:"detail,omitempty"`
	} `json:"image_url,omitempty"`
}

// chatBody returns the chat completion request body the answer to r is
// asked with: system (r's instructions, then the retrieved context, if
// any), then the conversation's items in order.
func (r *responsesRequest) chatBody(conversation []item, system string) []byte {
	var msgs []chatMessage
	if system != "" {
		msgs = append(msgs, chatMessage{Role: "system", Content: system})
	}
	for _, it := range conversation {
		switch it.Type {
		case "message":
			msgs = append(msgs, chatMessage{Role: it.Role, Content: chatContent(it.Content)})
		case "function_call":
			var tc chatToolCall
			tc.ID, tc.Type = it.CallID, "function"
			tc.Function.Name = it.Name
			if it.Arguments != nil {
				tc.Function.Arguments = *it.Arguments
			}
			// A call follows the assistant's text, or its other calls, in
			// one assistant message.
			if n := len(msgs); n > 0 && msgs[n-1].Role == "assistant" {
				msgs[n-1].ToolCalls = append(msgs[n-1].ToolCalls, tc)
				continue
			}
			msgs = append(msgs, chatMessage{Role: "assistant", ToolCalls: []chatToolCall{tc}})
		case "function_call_output":
			out := ""
			if it.Output != nil {
				out = *it.Output
			}
			msgs = append(msgs, chatMessage{Role: "tool", ToolCallID: it.CallID, Content: out})
		}
	}
	type streamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	}
	body := struct {
		Model               string         `json:"model"`
		Messages            []chatMessage  `json:"messages"`
		MaxCompletionTokens *int           `json:"max_completion_tokens,omitempty"`
		Temperature         *float64       `json:"temperature,omitempty"`
		TopP                *float64       `json:"top_p,omitempty"`
		User                string         `json:"user,omitempty"`
		ServiceTier         string         `json:"service_tier,omitempty"`
		Tools               []chatTool     `json:"tools,omitempty"`
		ToolChoice          any            `json:"tool_choice,omitempty"`
		ParallelToolCalls   *bool          `json:"parallel_tool_calls,omitempty"`
		ResponseFormat      any            `json:"response_format,omitempty"`
		Verbosity           string         `json:"verbosity,omitempty"`
		ReasoningEffort     string         `json:"reasoning_effort,omitempty"`
		PromptCacheKey      string         `json:"prompt_cache_key,omitempty"`
		SafetyIdentifier    string         `json:"safety_identifier,omitempty"`
		Stream              bool           `json:"stream,omitempty"`
		StreamOptions       *streamOptions `json:"stream_options,omitempty"`
	}{
		Model: r.model, Messages: msgs, MaxCompletionTokens: r.maxOutput, Temperature: r.temperature, TopP: r.topP,
		User: r.user, ServiceTier: r.serviceTier, Tools: r.functions, ToolChoice: r.chatToolChoice,
		ResponseFormat: r.responseFormat, Verbosity: r.verbosity, ReasoningEffort: r.reasoningEffort,
		PromptCacheKey: r.promptCacheKey, SafetyIdentifier: r.safetyID, Stream: r.stream,
	}
	if len(r.functions) > 0 {
		body.ParallelToolCalls = r.parallel
	}
	if r.stream {
		// Always ask for usage: response.completed reports it.
		body.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	b, err := json.Marshal(body)
	if err != nil { // strings, numbers and valid JSON only: cannot happen
		panic(err)
	}
	return b
}

// chatContent returns a message's content in the chat format: a string
// when it is text alone, else parts.
func chatContent(parts []part) any {
	text, only := "", true
	for _, p := range parts {
		if p.Type == "input_image" {
			only = false
			break
		}
		if p.Text != nil {
			text += *p.Text
		}
	}
	if only {
		return text
	}
	out := make([]chatPart, 0, len(parts))
	for _, p := range parts {
		if p.Type == "input_image" {
			cp := chatPart{Type: "image_url"}
			cp.ImageURL = &struct {
				URL    string `json:"url"`
				Detail string `json:"detail,omitempty"`
			}{p.ImageURL, p.Detail}
			out = append(out, cp)
			continue
		}
		if p.Text != nil {
			out = append(out, chatPart{Type: "text", Text: *p.Text})
		}
	}
	return out
}
