package openai

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

var chunkSeeds = []string{
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"c","model":"m","choices":[{"index":0,"delta":{"content":" token"},"finish_reason":null}]}`,
	`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
	`{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":2}}}`,
	`{"choices":[null,{"delta":null,"finish_reason":5}]}`,
	`{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]}`,
	`{"choices":[{"delta":{"content":null,"reasoning":"hm"}}]}`,
	`{"Model":"a","CHOICES":[{"Delta":{"Content":"x"},"Finish_Reason":"length"}]}`,
	`{"model":"a","model":"b","choices":[]}`,
	`{"model":"\u0061","choices":[{"delta":{"content":"x","content":""}}]}`,
	`{"error":{"message":"overloaded"}}`,
	`{"error":null,"choices":[]}`,
	`{"model":5}`,
	`{"choices":{}}`,
	`{"choices":[1]}`,
	`{"choices":[{"delta":[]}]}`,
	`{"usage":{"prompt_tokens":"x"}}`,
	`{"usage":7}`,
	`{"uſage":{"prompt_tokens":1}}`,
	`{"choices":[{"finish_reason":"st\u006fp"}]}`,
	` { "model" : "m" , "choices" : [ { "delta" : { "content" : "a" } } ] } `,
	`{}`,
}

// FuzzChunk checks that scanChunk, whenever it accepts an event, reads it
// exactly as decodeChunkJSON does.
func FuzzChunk(f *testing.F) {
	for _, s := range chunkSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) || len(bytes.TrimSpace(data)) == 0 || bytes.TrimSpace(data)[0] != '{' {
			return
		}
		got, ok := scanChunk(data, "m")
		if !ok {
			return
		}
		want, err := decodeChunkJSON(data)
		if err != nil {
			t.Fatalf("scanChunk accepted %q, which encoding/json rejects: %v", data, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\nscanChunk       %+v\ndecodeChunkJSON %+v", data, got, want)
		}
	})
}

func TestScanChunkCommonShapes(t *testing.T) {
	// The events real servers send must take the fast path.
	for _, s := range chunkSeeds[:8] {
		if _, ok := scanChunk([]byte(s), ""); !ok {
			t.Errorf("scanChunk declined %s", s)
		}
	}
	// The same model as the previous chunk reuses its string.
	f, _ := scanChunk([]byte(chunkSeeds[1]), "m")
	if f.model != "m" {
		t.Errorf("model = %q", f.model)
	}
}
