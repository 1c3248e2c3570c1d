package openai

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/llm"
)

func TestDecodeChatReadsWhatBulwarkNeeds(t *testing.T) {
	body := `{"model":"chat","messages":[
		{"role":"system","content":"be brief"},
		{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"b"}]},
		{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
		{"role":"tool","tool_call_id":"c1","content":"42"}],
		"stream":true,"stream_options":{"include_usage":true},"max_tokens":5,"max_completion_tokens":9,
		"n":2,"seed":3,"stop":["x","y"],"user":"u","future_field":{"a":1}}`
	req, err := decodeChat([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if req.Model != "chat" || !req.Stream || !req.IncludeUsage || req.MaxTokens != 9 || req.N != 2 || *req.Seed != 3 || req.User != "u" {
		t.Errorf("typed fields: %+v", req)
	}
	if len(req.Messages) != 4 || req.Messages[1].Content != "a\nb" || req.Messages[3].ToolCallID != "c1" {
		t.Errorf("messages: %+v", req.Messages)
	}
	if strings.Join(req.Stop, ",") != "x,y" {
		t.Errorf("stop: %v", req.Stop)
	}
	if string(req.Body) != body {
		t.Error("raw body not kept as sent")
	}
}

func TestDecodeChatRejects(t *testing.T) {
	cases := map[string]string{
		"stream_options without stream": `{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}`,
		"n too large":                   `{"model":"m","messages":[{"role":"user","content":"x"}],"n":1000}`,
		"max_tokens too large":          `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":9223372036854775807}`,
		"max_completion_tokens large":   `{"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":16777217}`,
		"top_p":                         `{"model":"m","messages":[{"role":"user","content":"x"}],"top_p":2}`,
		"stop too many":                 `{"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]}`,
		"stop wrong type":               `{"model":"m","messages":[{"role":"user","content":"x"}],"stop":5}`,
		"tool without id":               `{"model":"m","messages":[{"role":"tool","content":"x"}]}`,
		"user null content":             `{"model":"m","messages":[{"role":"user","content":null}]}`,
		"part without type":             `{"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]}`,
		"missing role":                  `{"model":"m","messages":[{"content":"x"}]}`,
		"trailing data":                 `{"model":"m","messages":[{"role":"user","content":"x"}]} {}`,
		"messages not array":            `{"model":"m","messages":"hi"}`,
	}
	for name, body := range cases {
		_, err := decodeChat([]byte(body))
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Message == "" {
			t.Errorf("%s: err = %v, want a 400", name, err)
		}
	}
}

func TestDecodeEmbedInputs(t *testing.T) {
	cases := map[string][]string{
		`"one"`:       {"one"},
		`["a","b"]`:   {"a", "b"},
		`[1,2,3]`:     {"1 2 3"},
		`[[1,2],[3]]`: {"1 2", "3"},
		`["a",[5,6]]`: {"a", "5 6"},
	}
	for in, want := range cases {
		req, _, err := decodeEmbed([]byte(`{"model":"e","input":` + in + `}`))
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if strings.Join(req.Input, "|") != strings.Join(want, "|") {
			t.Errorf("%s: got %q, want %q", in, req.Input, want)
		}
	}
	for _, bad := range []string{`""`, `[]`, `[""]`, `[[]]`, `{"a":1}`, `null`, `[true]`} {
		if _, _, err := decodeEmbed([]byte(`{"model":"e","input":` + bad + `}`)); err == nil {
			t.Errorf("input %s accepted", bad)
		}
	}
}

func TestEncodeEmbeddingsRoundTrips(t *testing.T) {
	resp := &llm.EmbedResponse{
		Vectors: [][]float32{{0.1, -2.5e-8, 3, float32(math.Pi)}, {0, 1, -1, 0.333333}},
		Model:   "m\"odel",
		Usage:   llm.Usage{PromptTokens: 4, TotalTokens: 4},
	}
	var wire struct {
		Object string `json:"object"`
		Data   []struct {
			Index     int             `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
		Model string `json:"model"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
		} `json:"usage"`
	}
	for _, b64 := range []bool{false, true} {
		if err := json.Unmarshal(encodeEmbeddings(resp, b64), &wire); err != nil {
			t.Fatalf("b64=%v: invalid JSON: %v", b64, err)
		}
		if wire.Object != "list" || wire.Model != resp.Model || wire.Usage.PromptTokens != 4 || len(wire.Data) != 2 {
			t.Fatalf("b64=%v: %+v", b64, wire)
		}
		for i, d := range wire.Data {
			var got []float32
			if b64 {
				var s string
				_ = json.Unmarshal(d.Embedding, &s)
				raw, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					t.Fatal(err)
				}
				for j := 0; j+4 <= len(raw); j += 4 {
					got = append(got, math.Float32frombits(binary.LittleEndian.Uint32(raw[j:])))
				}
			} else if err := json.Unmarshal(d.Embedding, &got); err != nil {
				t.Fatal(err)
			}
			for j := range resp.Vectors[i] {
				if got[j] != resp.Vectors[i][j] {
					t.Errorf("b64=%v: vector %d[%d] = %v, want %v", b64, i, j, got[j], resp.Vectors[i][j])
				}
			}
		}
	}
}

// FuzzDecodeChat: whatever a client sends, decoding either succeeds with a
// usable request or fails with a 4xx; it never panics.
func FuzzDecodeChat(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"}]}],"stream":true,"stream_options":{"include_usage":true}}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[]}],"stop":["a"],"n":2}`))
	f.Add([]byte(`{"model":1}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeChat(body)
		if err != nil {
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Status < 400 || ae.Status >= 500 {
				t.Fatalf("decode error is not a 4xx: %v", err)
			}
			return
		}
		if req.Model == "" || len(req.Messages) == 0 {
			t.Fatalf("accepted a request without model or messages: %q", body)
		}
	})
}

func FuzzDecodeEmbed(f *testing.F) {
	f.Add([]byte(`{"model":"e","input":"hi"}`))
	f.Add([]byte(`{"model":"e","input":[[1,2],[3]],"encoding_format":"base64","dimensions":8}`))
	f.Add([]byte(`{"model":"e","input":["a",[1]]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _, err := decodeEmbed(body)
		if err != nil {
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Status < 400 || ae.Status >= 500 {
				t.Fatalf("decode error is not a 4xx: %v", err)
			}
			return
		}
		if req.Model == "" || len(req.Input) == 0 {
			t.Fatalf("accepted a request without model or input: %q", body)
		}
		for _, in := range req.Input {
			if in == "" {
				t.Fatalf("accepted an empty input: %q", body)
			}
		}
	})
}

func BenchmarkDecodeChat(b *testing.B) {
	body := []byte(`{"model":"chat","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write a haiku about resilient systems and the engineers who keep them up at night."}],"temperature":0.7,"max_tokens":128,"stream":true,"stream_options":{"include_usage":true}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeChat(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeEmbeddings(b *testing.B) {
	v := make([]float32, 1536)
	for i := range v {
		v[i] = float32(i) / 1536
	}
	resp := &llm.EmbedResponse{Vectors: [][]float32{v}, Model: "m"}
	b.ReportAllocs()
	for b.Loop() {
		encodeEmbeddings(resp, false)
	}
}
