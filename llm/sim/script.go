package sim

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-ai/bulwark/llm"
)

// Scripted replies. A message (system or user) holding directives
//
//	[sim:reply {"content":"…","tool_calls":[{"name":"f","arguments":{…}}]}]
//
// has its first choice answer, in OpenAI's format (plain, SSE and
// in-process), with the reply of the k-th directive instead of generated
// words, where k counts the assistant messages after that message (the
// last directive once they run out): a test scripts an answer and what
// the model says when it is asked again. The object holds content (text)
// and tool_calls, each with a name, arguments (a JSON value, sent as its
// text, or a string sent as it is, so that invalid JSON can be scripted)
// and an optional id (default call_<n>); with tool calls the finish
// reason is tool_calls. The latest message holding a directive decides.
// Streamed, the content is one chunk and each call two (the name with the
// first half of its arguments, then the rest). Completion tokens are the
// text's, as for any text (⌈bytes/4⌉). A malformed directive is text.
// The Anthropic, Gemini and Bedrock forms answer with generated words.

const scriptTag = "[sim:reply "

// script is a scripted reply.
type script struct {
	content   string
	hasText   bool
	toolCalls []scriptCall
}

type scriptCall struct {
	id, name, args string
}

type wireScript struct {
	Content   *string `json:"content"`
	ToolCalls []struct {
		ID        string          `json:"id"`
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"tool_calls"`
}

// scriptOf returns the scripted reply msgs ask for, or nil.
func scriptOf(msgs []llm.Message) *script {
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if (m.Role != "user" && m.Role != "system" && m.Role != "developer") || !strings.Contains(m.Content, scriptTag) {
			continue
		}
		replies := parseScripts(m.Content)
		if len(replies) == 0 {
			return nil
		}
		k := 0
		for _, later := range msgs[i+1:] {
			if later.Role == "assistant" {
				k++
			}
		}
		return replies[min(k, len(replies)-1)]
	}
	return nil
}

// parseScripts returns the directives of a text in order.
func parseScripts(text string) []*script {
	var out []*script
	for {
		at := strings.Index(text, scriptTag)
		if at < 0 {
			return out
		}
		text = text[at+len(scriptTag):]
		dec := json.NewDecoder(strings.NewReader(text))
		var w wireScript
		if dec.Decode(&w) != nil {
			continue
		}
		rest := strings.TrimLeft(text[dec.InputOffset():], " ")
		if !strings.HasPrefix(rest, "]") {
			continue
		}
		text = rest[1:]
		sc := &script{}
		if w.Content != nil {
			sc.content, sc.hasText = *w.Content, true
		}
		for i, tc := range w.ToolCalls {
			args := string(tc.Arguments)
			var str string
			if json.Unmarshal(tc.Arguments, &str) == nil {
				args = str
			}
			id := tc.ID
			if id == "" {
				id = "call_" + strconv.Itoa(i)
			}
			sc.toolCalls = append(sc.toolCalls, scriptCall{id: id, name: tc.Name, args: args})
		}
		if !sc.hasText && len(sc.toolCalls) == 0 {
			sc.hasText = true
		}
		out = append(out, sc)
	}
}

// tokens is the reply's completion tokens.
func (sc *script) tokens() int {
	n := textTokens(sc.content)
	for _, c := range sc.toolCalls {
		n += textTokens(c.name) + textTokens(c.args)
	}
	return max(n, 1)
}

// finish is the reply's finish reason.
func (sc *script) finish() string {
	if len(sc.toolCalls) > 0 {
		return "tool_calls"
	}
	return "stop"
}

// appendMessage appends the reply as a completion's message object.
func (sc *script) appendMessage(b []byte) []byte {
	b = append(b, `{"role":"assistant","content":`...)
	if sc.hasText {
		b = appendJSONString(b, sc.content)
	} else {
		b = append(b, "null"...)
	}
	if len(sc.toolCalls) > 0 {
		b = append(b, `,"tool_calls":[`...)
		for i, c := range sc.toolCalls {
			if i > 0 {
				b = append(b, ',')
			}
			b = c.appendCall(b, -1, c.args, true)
		}
		b = append(b, ']')
	}
	return append(b, `,"refusal":null,"annotations":[]}`...)
}

// appendCall appends a tool call object (with its index when index ≥ 0,
// and its id, type and name when head).
func (c scriptCall) appendCall(b []byte, index int, args string, head bool) []byte {
	b = append(b, '{')
	if index >= 0 {
		b = append(b, `"index":`...)
		b = strconv.AppendInt(b, int64(index), 10)
		b = append(b, ',')
	}
	if head {
		b = append(b, `"id":`...)
		b = appendJSONString(b, c.id)
		b = append(b, `,"type":"function","function":{"name":`...)
		b = appendJSONString(b, c.name)
		b = append(b, ',')
	} else {
		b = append(b, `"function":{`...)
	}
	b = append(b, `"arguments":`...)
	b = appendJSONString(b, args)
	return append(b, "}}"...)
}

// deltas are the reply's streamed deltas, in order.
func (sc *script) deltas() []string {
	var out []string
	if sc.hasText {
		out = append(out, string(appendJSONString([]byte(`{"content":`), sc.content))+"}")
	}
	for i, c := range sc.toolCalls {
		half := len(c.args) / 2
		for half > 0 && !utf8.RuneStart(c.args[half]) {
			half--
		}
		out = append(out, string(c.appendCall([]byte(`{"tool_calls":[`), i, c.args[:half], true))+"]}")
		out = append(out, string(c.appendCall([]byte(`{"tool_calls":[`), i, c.args[half:], false))+"]}")
	}
	return out
}
