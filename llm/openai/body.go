package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/bulwark-ai/bulwark/llm"
)

// errNotObject is returned for a request body that is not a JSON object.
var errNotObject = errors.New("request body is not a JSON object")

// edit replaces one top-level member of a JSON object. value receives the
// member's current value (the last one, if the key is repeated; nil if it is
// absent) and returns the new value, or nil to remove the member.
type edit struct {
	key   string
	value func(old []byte) []byte
}

// rewriteObject applies edits to the top-level members of the JSON object b
// and returns a new body. Every other byte of b is kept: member order,
// spacing, and the values of members it does not edit, known or not. An
// edited member stays where it first occurred (repeats are removed); a
// member that was absent is appended.
//
// Splicing beats decoding into map[string]json.RawMessage and encoding again
// (see BenchmarkRewriteBody) and, unlike it, keeps the client's member order.
//
// b must be valid JSON. rewriteObject rejects what is not shaped like one
// object, but does not validate the values it keeps: a request body is
// validated once, where it is decoded from the wire (api/openai), and
// validating it again here cost 70% of the splice (json.Valid; see
// BENCHMARKS.md). Invalid JSON that gets past the shape check is forwarded
// invalid, and the upstream rejects it.
func rewriteObject(b []byte, edits []edit) ([]byte, error) {
	var buf [32]member
	ms, err := scanObject(b, buf[:0])
	if err != nil {
		return nil, err
	}
	// Find each edit's last occurrence, whose value the edit sees.
	var lastBuf [4]int
	var doneBuf [4]bool
	last, done := lastBuf[:0], doneBuf[:0]
	if len(edits) > len(lastBuf) {
		last, done = make([]int, 0, len(edits)), make([]bool, 0, len(edits))
	}
	for _, e := range edits {
		l := -1
		for i := range ms {
			if ms[i].is(b, e.key) {
				l = i
			}
		}
		last = append(last, l)
		done = append(done, false)
	}

	out := make([]byte, 0, len(b)+64)
	out = append(out, '{')
	n := 0 // members written
	for i := range ms {
		m := &ms[i]
		ei := -1
		for j, e := range edits {
			if m.is(b, e.key) {
				ei = j
				break
			}
		}
		if ei < 0 {
			out = appendMember(out, n, b[m.start:m.end])
			n++
			continue
		}
		if done[ei] {
			continue
		}
		done[ei] = true
		l := &ms[last[ei]]
		v := edits[ei].value(b[l.valStart:l.valEnd])
		if v == nil {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, b[m.start:m.valStart]...)
		out = append(out, v...)
		out = append(out, b[m.valEnd:m.end]...)
		n++
	}
	for j, e := range edits {
		if done[j] {
			continue
		}
		v := e.value(nil)
		if v == nil {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = appendString(out, e.key)
		out = append(out, ':')
		out = append(out, v...)
		n++
	}
	return append(out, '}'), nil
}

func appendMember(out []byte, n int, text []byte) []byte {
	if n > 0 {
		out = append(out, ',')
	}
	return append(out, text...)
}

// member is the position of one top-level member in a JSON object. start
// and end include the whitespace around the member (up to the separating
// comma or the braces).
type member struct {
	start, keyStart, keyEnd, valStart, valEnd, end int
}

// is reports whether the member's key is key.
func (m *member) is(b []byte, key string) bool {
	raw := b[m.keyStart+1 : m.keyEnd-1] // without the quotes
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == key
	}
	var k string
	return json.Unmarshal(b[m.keyStart:m.keyEnd], &k) == nil && k == key
}

// scanObject locates the top-level members of the JSON object b, appending
// them to ms. It checks the object's shape (braces, keys, colons, commas,
// nothing after it) and its bounds, not the values.
func scanObject(b []byte, ms []member) ([]member, error) {
	i := llm.SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errNotObject
	}
	i++
	if j := llm.SkipSpace(b, i); j < len(b) && b[j] == '}' {
		if llm.SkipSpace(b, j+1) != len(b) {
			return nil, errNotObject
		}
		return ms, nil
	}
	for {
		var m member
		m.start = i
		i = llm.SkipSpace(b, i)
		m.keyStart = i
		if i >= len(b) || b[i] != '"' {
			return nil, errNotObject
		}
		i = llm.SkipString(b, i)
		m.keyEnd = i
		i = llm.SkipSpace(b, i)
		if i >= len(b) || b[i] != ':' {
			return nil, errNotObject
		}
		i = llm.SkipSpace(b, i+1)
		m.valStart = i
		i = llm.SkipValue(b, i)
		m.valEnd = i
		i = llm.SkipSpace(b, i)
		m.end = i
		if i >= len(b) {
			return nil, errNotObject
		}
		ms = append(ms, m)
		switch b[i] {
		case ',':
			i++
		case '}':
			if llm.SkipSpace(b, i+1) != len(b) {
				return nil, errNotObject
			}
			return ms, nil
		default:
			return nil, errNotObject
		}
	}
}

// appendString appends s as a JSON string.
func appendString(out []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(out, q...)
}

func constant(v []byte) func([]byte) []byte { return func([]byte) []byte { return v } }

var (
	jsonTrue  = []byte("true")
	jsonFalse = []byte("false")
)

// mergeIncludeUsage returns the client's stream_options with include_usage
// set to true, keeping its other fields.
func mergeIncludeUsage(old []byte) []byte {
	if o := bytes.TrimSpace(old); len(o) > 0 && o[0] == '{' {
		if v, err := rewriteObject(o, []edit{{"include_usage", constant(jsonTrue)}}); err == nil {
			return v
		}
	}
	return []byte(`{"include_usage":true}`)
}

// chatBody returns the upstream body for req: the client's body with model
// and stream rewritten, or one built from the typed fields when there is no
// body. A stream asks for a final usage chunk; a non-stream drops
// stream_options, which OpenAI refuses without stream.
func chatBody(req *llm.ChatRequest, stream bool) ([]byte, error) {
	if len(bytes.TrimSpace(req.Body)) == 0 {
		return buildChatBody(req, stream)
	}
	model := appendString(nil, req.Model)
	if stream && req.Continue && len(req.Messages) > 0 {
		prefill, err := json.Marshal(wireMessage{Role: "assistant", Content: req.Messages[len(req.Messages)-1].Content})
		if err != nil {
			return nil, err
		}
		// What the client allowed for the whole answer, less what the
		// text so far took (the gateway sets req.MaxTokens so).
		left := func(old []byte) []byte {
			if old == nil || req.MaxTokens <= 0 {
				return old
			}
			return strconv.AppendInt(nil, int64(req.MaxTokens), 10)
		}
		return rewriteObject(req.Body, []edit{
			{"model", constant(model)},
			{"stream", constant(jsonTrue)},
			{"stream_options", mergeIncludeUsage},
			{"messages", func(old []byte) []byte { return appendToArray(old, prefill) }},
			{"continue_final_message", constant(jsonTrue)},
			{"add_generation_prompt", constant(jsonFalse)},
			{"max_tokens", left},
			{"max_completion_tokens", left},
		})
	}
	if stream {
		return rewriteObject(req.Body, []edit{
			{"model", constant(model)},
			{"stream", constant(jsonTrue)},
			{"stream_options", mergeIncludeUsage},
		})
	}
	return rewriteObject(req.Body, []edit{
		{"model", constant(model)},
		{"stream", constant(jsonFalse)},
		{"stream_options", func([]byte) []byte { return nil }},
	})
}

// appendToArray returns the JSON array arr with v appended (an array of v
// alone when arr is not an array).
func appendToArray(arr, v []byte) []byte {
	a := bytes.TrimSpace(arr)
	if len(a) < 2 || a[0] != '[' || a[len(a)-1] != ']' {
		return append(append([]byte{'['}, v...), ']')
	}
	out := make([]byte, 0, len(a)+len(v)+1)
	out = append(out, a[:len(a)-1]...)
	if len(bytes.TrimSpace(a[1:len(a)-1])) > 0 {
		out = append(out, ',')
	}
	out = append(out, v...)
	return append(out, ']')
}

// embedBody returns the upstream body for req: the client's body with the
// model rewritten, or one built from the typed fields.
func embedBody(req *llm.EmbedRequest) ([]byte, error) {
	if len(bytes.TrimSpace(req.Body)) == 0 {
		return json.Marshal(wireEmbedRequest{
			Model:      req.Model,
			Input:      req.Input,
			Dimensions: req.Dimensions,
			User:       req.User,
		})
	}
	return rewriteObject(req.Body, []edit{{"model", constant(appendString(nil, req.Model))}})
}

type wireMessage struct {
	Role       string `json:"role"`
	Content    string `json:"content"`
	Name       string `json:"name,omitempty"`
	ToolCallID string `json:"tool_call_id,omitempty"`
}

type wireStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// wireChatRequest is the body built when a ChatRequest has none. It uses
// max_tokens, which every OpenAI-compatible server accepts.
type wireChatRequest struct {
	Model         string             `json:"model"`
	Messages      []wireMessage      `json:"messages"`
	MaxTokens     int                `json:"max_tokens,omitempty"`
	N             int                `json:"n,omitempty"`
	Seed          *int64             `json:"seed,omitempty"`
	Stop          []string           `json:"stop,omitempty"`
	User          string             `json:"user,omitempty"`
	Stream        bool               `json:"stream"`
	StreamOptions *wireStreamOptions `json:"stream_options,omitempty"`
	// vLLM's continuation of the last (assistant) message (Continue).
	ContinueFinalMessage bool  `json:"continue_final_message,omitempty"`
	AddGenerationPrompt  *bool `json:"add_generation_prompt,omitempty"`
}

type wireEmbedRequest struct {
	Model      string   `json:"model"`
	Input      []string `json:"input"`
	Dimensions int      `json:"dimensions,omitempty"`
	User       string   `json:"user,omitempty"`
}

func buildChatBody(req *llm.ChatRequest, stream bool) ([]byte, error) {
	w := wireChatRequest{
		Model:     req.Model,
		Messages:  make([]wireMessage, len(req.Messages)),
		MaxTokens: req.MaxTokens,
		N:         req.N,
		Seed:      req.Seed,
		Stop:      req.Stop,
		User:      req.User,
		Stream:    stream,
	}
	for i, m := range req.Messages {
		w.Messages[i] = wireMessage{Role: m.Role, Content: m.Content, Name: m.Name, ToolCallID: m.ToolCallID}
	}
	if stream {
		w.StreamOptions = &wireStreamOptions{IncludeUsage: true}
		if req.Continue {
			w.ContinueFinalMessage, w.AddGenerationPrompt = true, new(false)
		}
	}
	return json.Marshal(w)
}
