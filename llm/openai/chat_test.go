package openai

import (
	"reflect"
	"testing"
)

var chatSeeds = []string{
	`{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`,
	`{"model":"m","choices":[null,{"finish_reason":null},{"finish_reason":5},{"finish_reason":"length"},{"message":{}}]}`,
	`{"choices":[],"usage":{"prompt_tokens":1.5e1,"completion_tokens":null,"prompt_tokens_details":{"cached_tokens":"x"}}}`,
	`{"error":{"message":"overloaded"}}`,
	`{"error":null,"choices":null}`,
	`{"Model":"a","CHOICES":[{"Finish_Reason":"length"}]}`,
	`{"model":"a","model":"b","choices":[]}`,
	`{"model":"\u0061","choices":[{"finish_reason":"st\u006fp"}]}`,
	`{"choices":[{"finish_reason":"stop","finish_reason":"length"}]}`,
	`{"uſage":{"prompt_tokens":1},"choices":[]}`,
	`{"model":5}`,
	`{"choices":{}}`,
	`{"choices":[1]}`,
	`{"usage":7}`,
	`{"usage":{"prompt_tokens_details":3}}`,
	`null`,
	`[]`,
	`"x"`,
	`{"choices":[{"finish_reason":"stop"}]} x`,
	` { "model" : "m" , "choices" : [ { "finish_reason" : "tool_calls" } ] } `,
	`{}`,
	`{`,
}

// FuzzChatResponse checks that a response body reads the same, fields and
// errors, as encoding/json reads it, whatever the upstream sends.
func FuzzChatResponse(f *testing.F) {
	f.Add(readTestdata(f, "chat_response.json"))
	for _, s := range chatSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := decodeChatJSON(data)
		got, gerr := decodeChatResponse(data)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: error %v, encoding/json's %v", data, gerr, werr)
		}
		if werr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\nread            %+v\nencoding/json's %+v", data, got, want)
		}
	})
}

func TestScanChatCommonShapes(t *testing.T) {
	// The answers real servers send must take the fast path.
	for _, b := range [][]byte{readTestdata(t, "chat_response.json"), []byte(chatSeeds[0]), []byte(chatSeeds[1]), []byte(chatSeeds[2])} {
		if _, ok := scanChat(b); !ok {
			t.Errorf("scanChat declined %s", b)
		}
	}
	f, err := decodeChatResponse(readTestdata(t, "chat_response.json"))
	if err != nil {
		t.Fatal(err)
	}
	u := f.usage.usage()
	if f.model != "gpt-4o-2024-08-06" || !reflect.DeepEqual(f.finish, []string{"stop", "tool_calls"}) ||
		u.PromptTokens != 1117 || u.CompletionTokens != 46 || u.TotalTokens != 1163 || u.CachedTokens != 1024 {
		t.Errorf("read %+v, usage %+v", f, u)
	}
}

// BenchmarkChatResponseDecode is what a non-streamed answer costs Bulwark
// besides the network: the body is relayed as it came, and only its model,
// finish reasons and usage are read.
func BenchmarkChatResponseDecode(b *testing.B) {
	body := readTestdata(b, "chat_response.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeChatResponse(body); err != nil {
			b.Fatal(err)
		}
	}
}
