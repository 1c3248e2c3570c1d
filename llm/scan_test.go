package llm

import (
	"encoding/json"
	"testing"
)

// AppendChunkText reads the text of a chunk as encoding/json would.
func TestAppendSentReadsTheTextOfEveryChoice(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{`{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}`, "Hi"},
		{`{"choices":[{"delta":{"content":null}}],"usage":{"prompt_tokens":3}}`, ""},
		{`{"choices":[]}`, ""},
		{` { "choices" : [ { "delta" : { "content" : "a\"b\\c\/d\n\t\u00e9\ud83d\ude00" } } ] } `, "a\"b\\c/d\n\té😀"},
		{`{"choices":[{"index":0,"delta":{"content":"x"}},{"index":1,"delta":{"content":"y","refusal":"no"}}]}`, "xyno"},
		{`{"choices":[{"delta":{"reasoning_content":"think","content":""}}]}`, "think"},
		{`{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get","arguments":"{\"city\":"}}]}}]}`, `get{"city":`},
		{`{"choices":[{"delta":{"function_call":{"name":"f","arguments":"{}"}}}]}`, "f{}"},
		{`{"choices":[{"delta":{"content":"\ud83d"}}]}`, "\uFFFD"},
		{`not json`, ""},
		{`{"choices":[{"delta":{"content":"cut`, ""},
	} {
		if got := string(AppendChunkText(nil, []byte(tc.data))); got != tc.want {
			t.Errorf("AppendChunkText(%s) = %q, want %q", tc.data, got, tc.want)
		}
	}
}

// An upstream's chunk is untrusted input: whatever it holds, AppendChunkText
// neither panics nor reads past it, and on well-formed JSON it agrees with
// encoding/json on the text of every choice's content.
func FuzzAppendChunkText(f *testing.F) {
	for _, s := range []string{
		`{"choices":[{"index":0,"delta":{"content":"Hi"}}]}`,
		`{"choices":[{"delta":{"content":"a\"b\\c\u00e9\ud83d\ude00"}}]}`,
		`{"choices":[{"delta":{"tool_calls":[{"function":{"name":"g","arguments":"{}"}}]}}]}`,
		`{"choices":[{"delta":{"content":"cut`, `[`, `{"choices":[{"delta":{"content":"\ud83d"}}]}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := AppendChunkText(nil, data)
		var c struct {
			Choices []struct {
				Delta map[string]json.RawMessage `json:"delta"`
			} `json:"choices"`
		}
		if json.Unmarshal(data, &c) != nil || len(c.Choices) != 1 || len(c.Choices[0].Delta) != 1 {
			return
		}
		raw, ok := c.Choices[0].Delta["content"]
		var want string
		if !ok || json.Unmarshal(raw, &want) != nil {
			return
		}
		if string(got) != want {
			t.Errorf("AppendChunkText(%s) = %q, encoding/json reads %q", data, got, want)
		}
	})
}
