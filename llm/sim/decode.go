package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-ai/bulwark/llm"
)

// Bounds of what a request may ask for.
const (
	maxBodyBytes = 32 << 20
	maxChoices   = 128
	maxInputs    = 2048
)

// invalid is a 400 in OpenAI's invalid_request_error form.
func invalid(param, code, format string, args ...any) *llm.Error {
	return &llm.Error{
		Kind: llm.KindBadRequest, Status: http.StatusBadRequest, Type: typeInvalidRequest,
		Param: param, Code: code, Message: fmt.Sprintf(format, args...),
	}
}

// readBody reads a request body of at most maxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *llm.Error) {
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 && n <= maxBodyBytes {
		buf.Grow(int(n) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxBodyBytes)); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			e := invalid("", "request_too_large", "The request body is larger than %d bytes.", maxBodyBytes)
			e.Status = http.StatusRequestEntityTooLarge
			return nil, e
		}
		return nil, invalid("", "", "Could not read the request body: %v.", err)
	}
	return buf.Bytes(), nil
}

// jsonError turns an encoding/json error into OpenAI's wording.
func jsonError(err error) *llm.Error {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		field := te.Field
		if field == "" {
			return invalid("", "invalid_type", "Invalid type for the request body: expected an object, but got %s instead.", article(te.Value))
		}
		return invalid(field, "invalid_type", "Invalid type for '%s': expected %s, but got %s instead.",
			field, typeName(te.Type), article(te.Value))
	}
	return invalid("", "", "We could not parse the JSON body of your request: %v. The API expects a JSON payload.", err)
}

func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

// article turns encoding/json's description of a value ("string",
// "number 1.5", "array") into "a string", "a number", "an array".
func article(v string) string {
	v, _, _ = strings.Cut(v, " ")
	switch v {
	case "array", "object":
		return "an " + v
	case "bool":
		return "a boolean"
	case "":
		return "a value"
	}
	return "a " + v
}

// chatWire is the part of a chat completion request the simulator reads.
type chatWire struct {
	Model         string         `json:"model"`
	Messages      []messageWire  `json:"messages"`
	Stream        bool           `json:"stream"`
	StreamOptions *streamOptions `json:"stream_options"`
	MaxTokens     *int           `json:"max_tokens"`
	MaxCompletion *int           `json:"max_completion_tokens"`
	N             *int           `json:"n"`
	Seed          *int64         `json:"seed"`
	Stop          stopWire       `json:"stop"`
	User          string         `json:"user"`
	// vLLM's continuation of the last (assistant) message; vLLM's
	// add_generation_prompt defaults to true.
	ContinueFinalMessage bool  `json:"continue_final_message"`
	AddGenerationPrompt  *bool `json:"add_generation_prompt"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type messageWire struct {
	Role       string      `json:"role"`
	Content    contentWire `json:"content"`
	Name       string      `json:"name"`
	ToolCallID string      `json:"tool_call_id"`
}

// contentWire is a message's content: a string, null, or an array of parts
// whose texts are joined with newlines (other parts, images and the like,
// are ignored).
type contentWire string

func (c *contentWire) UnmarshalJSON(b []byte) error {
	switch b[0] {
	case 'n':
		*c = ""
		return nil
	case '"':
		s, err := unquote(b)
		*c = contentWire(s)
		return err
	case '[':
		var parts []struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(b, &parts); err != nil {
			return err
		}
		var sb strings.Builder
		for _, p := range parts {
			if p.Text == nil {
				continue
			}
			if sb.Len() > 0 {
				sb.WriteByte('\n')
			}
			sb.WriteString(*p.Text)
		}
		*c = contentWire(sb.String())
		return nil
	}
	return &json.UnmarshalTypeError{Value: kindOf(b), Type: reflect.TypeFor[string]()}
}

// unquote decodes a JSON string, without a second pass of encoding/json
// over the common case of a string with no escapes.
func unquote(b []byte) (string, error) {
	if len(b) >= 2 && b[len(b)-1] == '"' {
		inner := b[1 : len(b)-1]
		plain := utf8.Valid(inner)
		for _, c := range inner {
			if c == '\\' || c == '"' || c < 0x20 {
				plain = false
				break
			}
		}
		if plain {
			return string(inner), nil
		}
	}
	var s string
	err := json.Unmarshal(b, &s)
	return s, err
}

// stopWire is stop: null, a string or an array of strings.
type stopWire []string

func (s *stopWire) UnmarshalJSON(b []byte) error {
	switch b[0] {
	case 'n':
		*s = nil
		return nil
	case '"':
		var one string
		err := json.Unmarshal(b, &one)
		*s = stopWire{one}
		return err
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// kindOf names the kind of a JSON value from its first byte.
func kindOf(b []byte) string {
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	}
	return "number"
}

var validRoles = map[string]bool{
	"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true,
}

// decodeChat decodes and validates a chat completion request body.
func decodeChat(body []byte) (*llm.ChatRequest, *llm.Error) {
	var w chatWire
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, jsonError(err)
	}
	req := &llm.ChatRequest{
		Model: w.Model, Stream: w.Stream, Stop: w.Stop, User: w.User, Seed: w.Seed, Body: body,
		Messages: make([]llm.Message, len(w.Messages)),
	}
	if w.Model == "" {
		return nil, invalid("model", "missing_required_parameter", "you must provide a model parameter")
	}
	if w.Messages == nil {
		return nil, invalid("messages", "missing_required_parameter", "Missing required parameter: 'messages'.")
	}
	for i, m := range w.Messages {
		if !validRoles[m.Role] {
			return nil, invalid(fmt.Sprintf("messages[%d].role", i), "invalid_value",
				"Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", m.Role)
		}
		req.Messages[i] = llm.Message{Role: m.Role, Content: string(m.Content), Name: m.Name, ToolCallID: m.ToolCallID}
	}
	if w.StreamOptions != nil {
		if !w.Stream {
			return nil, invalid("stream_options", "invalid_value", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
		}
		req.IncludeUsage = w.StreamOptions.IncludeUsage
	}
	for _, p := range []struct {
		name string
		v    *int
	}{{"max_tokens", w.MaxTokens}, {"max_completion_tokens", w.MaxCompletion}} {
		if p.v != nil && *p.v < 1 {
			return nil, invalid(p.name, "integer_below_min_value",
				"Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.", p.name, *p.v)
		}
	}
	switch {
	case w.MaxCompletion != nil:
		req.MaxTokens = *w.MaxCompletion
	case w.MaxTokens != nil:
		req.MaxTokens = *w.MaxTokens
	}
	if w.ContinueFinalMessage {
		if w.AddGenerationPrompt == nil || *w.AddGenerationPrompt {
			return nil, invalid("add_generation_prompt", "invalid_value",
				"continue_final_message and add_generation_prompt cannot both be true: set add_generation_prompt to false.")
		}
		req.Continue = true
	}
	if w.N != nil {
		if *w.N < 1 || *w.N > maxChoices {
			return nil, invalid("n", "invalid_value", "Invalid 'n': %d. Expected a value from 1 to %d.", *w.N, maxChoices)
		}
		req.N = *w.N
	}
	if e := checkChat(req); e != nil {
		return nil, e
	}
	return req, nil
}

// checkChat validates what both transports must: in-process callers build
// requests by hand.
func checkChat(req *llm.ChatRequest) *llm.Error {
	switch {
	case req.Model == "":
		return invalid("model", "missing_required_parameter", "you must provide a model parameter")
	case len(req.Messages) == 0:
		return invalid("messages", "empty_array", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	case req.N < 0 || req.N > maxChoices:
		return invalid("n", "invalid_value", "Invalid 'n': %d. Expected a value from 1 to %d.", req.N, maxChoices)
	case req.MaxTokens < 0:
		return invalid("max_tokens", "integer_below_min_value",
			"Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got %d instead.", req.MaxTokens)
	case req.Continue && req.Messages[len(req.Messages)-1].Role != "assistant":
		return invalid("messages", "invalid_value",
			"continue_final_message is set, but the last message is not an assistant message to continue.")
	case req.Continue && req.N > 1:
		return invalid("n", "invalid_value", "continue_final_message continues one answer: n must be 1.")
	}
	return nil
}

// embedWire is an embeddings request.
type embedWire struct {
	Model          string    `json:"model"`
	Input          inputWire `json:"input"`
	EncodingFormat string    `json:"encoding_format"`
	Dimensions     *int      `json:"dimensions"`
	User           string    `json:"user"`
}

// inputWire is input: a string, an array of strings, an array of token ids
// or an array of arrays of token ids. Token ids become their decimal text.
type inputWire struct {
	texts []string
	set   bool
}

func (in *inputWire) UnmarshalJSON(b []byte) error {
	in.set = b[0] != 'n'
	switch b[0] {
	case 'n':
		return nil
	case '"':
		var s string
		err := json.Unmarshal(b, &s)
		in.texts = []string{s}
		return err
	case '[':
	default:
		return &json.UnmarshalTypeError{Value: kindOf(b), Type: reflect.TypeFor[[]string]()}
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		return err
	}
	if len(items) > 0 && items[0][0] != '"' && items[0][0] != '[' {
		// One array of token ids.
		var ids []int64
		if err := json.Unmarshal(b, &ids); err != nil {
			return err
		}
		in.texts = []string{tokenText(ids)}
		return nil
	}
	in.texts = make([]string, len(items))
	for i, it := range items {
		if it[0] == '[' {
			var ids []int64
			if err := json.Unmarshal(it, &ids); err != nil {
				return err
			}
			in.texts[i] = tokenText(ids)
			continue
		}
		if err := json.Unmarshal(it, &in.texts[i]); err != nil {
			return err
		}
	}
	return nil
}

func tokenText(ids []int64) string {
	b := make([]byte, 0, len(ids)*6)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(b)
}

// decodeEmbed decodes and validates an embeddings request body; base64
// reports encoding_format "base64".
func decodeEmbed(body []byte) (req *llm.EmbedRequest, base64 bool, e *llm.Error) {
	var w embedWire
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, false, jsonError(err)
	}
	switch w.EncodingFormat {
	case "", "float":
	case "base64":
		base64 = true
	default:
		return nil, false, invalid("encoding_format", "invalid_value",
			"Invalid value: '%s'. Supported values are: 'float' and 'base64'.", w.EncodingFormat)
	}
	if !w.Input.set {
		return nil, false, invalid("input", "missing_required_parameter", "Missing required parameter: 'input'.")
	}
	req = &llm.EmbedRequest{Model: w.Model, Input: w.Input.texts, User: w.User, Body: body}
	if w.Dimensions != nil {
		if *w.Dimensions < 1 {
			return nil, false, invalid("dimensions", "integer_below_min_value",
				"Invalid 'dimensions': integer below minimum value. Expected a value >= 1, but got %d instead.", *w.Dimensions)
		}
		req.Dimensions = *w.Dimensions
	}
	if e := checkEmbed(req); e != nil {
		return nil, false, e
	}
	return req, base64, nil
}

// checkEmbed validates what both transports must.
func checkEmbed(req *llm.EmbedRequest) *llm.Error {
	switch {
	case req.Model == "":
		return invalid("model", "missing_required_parameter", "you must provide a model parameter")
	case len(req.Input) == 0:
		return invalid("input", "empty_array", "Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	case len(req.Input) > maxInputs:
		return invalid("input", "array_above_max_length", "Invalid 'input': array too long. Expected an array with maximum length %d, but got an array with length %d instead.",
			maxInputs, len(req.Input))
	case req.Dimensions < 0:
		return invalid("dimensions", "integer_below_min_value",
			"Invalid 'dimensions': integer below minimum value. Expected a value >= 1, but got %d instead.", req.Dimensions)
	}
	for i, s := range req.Input {
		if s == "" {
			return invalid(fmt.Sprintf("input[%d]", i), "invalid_value", "Invalid 'input[%d]': the input cannot be an empty string.", i)
		}
	}
	return nil
}
