package openai

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or writes it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeMembers decodes a JSON object's members, for comparisons that
// ignore order and spacing.
func decodeMembers(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, b)
	}
	return m
}

func TestChatBodyGolden(t *testing.T) {
	in := readTestdata(t, "chat_request.json")
	req := &llm.ChatRequest{Model: "gpt-4o-mini-2024-07-18", Body: in}

	chat, err := chatBody(req, false)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "chat_request.upstream.json", chat)
	stream, err := chatBody(req, true)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "chat_request.upstream_stream.json", stream)

	// Semantically: only model, stream and stream_options changed.
	orig := decodeMembers(t, in)
	for _, c := range []struct {
		body   []byte
		stream bool
	}{{chat, false}, {stream, true}} {
		got := decodeMembers(t, c.body)
		if got["model"] != req.Model || got["stream"] != c.stream {
			t.Errorf("stream=%v: model %v, stream %v", c.stream, got["model"], got["stream"])
		}
		so, hasSO := got["stream_options"]
		if c.stream {
			want := map[string]any{"include_usage": true, "include_obfuscation": false}
			if !reflect.DeepEqual(so, want) {
				t.Errorf("stream_options %v, want %v", so, want)
			}
		} else if hasSO {
			t.Errorf("stream_options %v sent without stream", so)
		}
		for k, v := range orig {
			switch k {
			case "model", "stream", "stream_options":
				continue
			}
			if !reflect.DeepEqual(got[k], v) {
				t.Errorf("stream=%v: member %q changed: %v, want %v", c.stream, k, got[k], v)
			}
		}
		want := len(orig)
		if !c.stream {
			want-- // stream_options dropped
		}
		if len(got) != want {
			t.Errorf("stream=%v: %d members, want %d", c.stream, len(got), want)
		}
	}
}

func TestRewriteObject(t *testing.T) {
	model := []edit{{"model", constant([]byte(`"m"`))}}
	stream := []edit{
		{"model", constant([]byte(`"m"`))},
		{"stream", constant(jsonTrue)},
		{"stream_options", mergeIncludeUsage},
	}
	for _, c := range []struct {
		name  string
		in    string
		edits []edit
		want  string
	}{
		{"replace in place", `{"a":1,"model":"x","b":[1,{"model":2}]}`, model, `{"a":1,"model":"m","b":[1,{"model":2}]}`},
		{"append when absent", `{"a":1}`, model, `{"a":1,"model":"m"}`},
		{"empty object", `{}`, model, `{"model":"m"}`},
		{"empty object with space", " { \n } ", model, `{"model":"m"}`},
		{"repeated key keeps first position", `{"model":"x","a":1,"model":"y"}`, model, `{"model":"m","a":1}`},
		{"escaped key", `{"mod\u0065l":"x","a":"\"model\":1"}`, model, `{"mod\u0065l":"m","a":"\"model\":1"}`},
		{"spacing kept", "{ \"a\" : 1 ,\n  \"model\" :\t\"x\" }", model, "{ \"a\" : 1 ,\n  \"model\" :\t\"m\" }"},
		{"key in nested string untouched", `{"s":"{\"model\":1}","n":null}`, model, `{"s":"{\"model\":1}","n":null,"model":"m"}`},
		{"stream adds members", `{"model":"x"}`, stream, `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`},
		{"stream options merged", `{"stream_options":{"include_usage":false,"other":1},"stream":false}`, stream,
			`{"stream_options":{"include_usage":true,"other":1},"stream":true,"model":"m"}`},
		{"stream options null", `{"stream_options":null}`, stream, `{"stream_options":{"include_usage":true},"model":"m","stream":true}`},
		{"stream options last wins", `{"stream_options":{"a":1},"stream_options":{"b":2}}`, stream,
			`{"stream_options":{"b":2,"include_usage":true},"model":"m","stream":true}`},
		{"remove", `{"a":1,"stream_options":{},"b":2}`, []edit{{"stream_options", func([]byte) []byte { return nil }}}, `{"a":1,"b":2}`},
		{"remove first", `{"stream_options":{},"b":2}`, []edit{{"stream_options", func([]byte) []byte { return nil }}}, `{"b":2}`},
		{"remove only", `{"stream_options":{}}`, []edit{{"stream_options", func([]byte) []byte { return nil }}}, `{}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := rewriteObject([]byte(c.in), c.edits)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
			if !json.Valid(got) {
				t.Errorf("invalid JSON: %s", got)
			}
		})
	}
}

func TestRewriteObjectRejects(t *testing.T) {
	for _, in := range []string{``, `[]`, `"model"`, `null`, `{"a":1`, `{"a":1}{`, `{"a" 1}`, `12`} {
		if got, err := rewriteObject([]byte(in), []edit{{"model", constant(jsonTrue)}}); err == nil {
			t.Errorf("%q: got %s, want an error", in, got)
		}
	}
	c, _ := New(Options{Name: "p", BaseURL: "http://127.0.0.1:1"})
	_, err := c.Chat(t.Context(), &llm.ChatRequest{Model: "m", Body: []byte(`[1]`)})
	if k := llm.KindOf(err); k != llm.KindBadRequest {
		t.Errorf("Chat with a non-object body: kind %s, want bad_request (%v)", k, err)
	}
}

func TestBuildBodies(t *testing.T) {
	seed := int64(3)
	req := &llm.ChatRequest{
		Model:     "m",
		Messages:  []llm.Message{{Role: "system", Content: "be brief"}, {Role: "tool", Content: "42", ToolCallID: "call_1"}},
		MaxTokens: 10, N: 2, Seed: &seed, Stop: []string{"\n"}, User: "u",
	}
	b, err := chatBody(req, true)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"tool","content":"42","tool_call_id":"call_1"}],` +
		`"max_tokens":10,"n":2,"seed":3,"stop":["\n"],"user":"u","stream":true,"stream_options":{"include_usage":true}}`
	if string(b) != want {
		t.Errorf("chat body\ngot  %s\nwant %s", b, want)
	}
	b, err = embedBody(&llm.EmbedRequest{Model: "e", Input: []string{"a", "b"}, Dimensions: 8})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"model":"e","input":["a","b"],"dimensions":8}`; string(b) != want {
		t.Errorf("embed body\ngot  %s\nwant %s", b, want)
	}
	b, err = embedBody(&llm.EmbedRequest{Model: "e", Body: []byte(`{"input":"x","model":"alias","encoding_format":"base64"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"input":"x","model":"e","encoding_format":"base64"}`; string(b) != want {
		t.Errorf("embed rewrite\ngot  %s\nwant %s", b, want)
	}
}

// rewriteViaMap is the straightforward rewrite: decode the members, replace
// some, encode again. BenchmarkRewriteBody compares it with rewriteObject.
func rewriteViaMap(body []byte, model string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	mb, _ := json.Marshal(model)
	m["model"] = mb
	m["stream"] = jsonTrue
	var so map[string]json.RawMessage
	if json.Unmarshal(m["stream_options"], &so) != nil || so == nil {
		so = map[string]json.RawMessage{}
	}
	so["include_usage"] = jsonTrue
	sb, err := json.Marshal(so)
	if err != nil {
		return nil, err
	}
	m["stream_options"] = sb
	return json.Marshal(m)
}

// benchBody is a realistic agent request: a system prompt, a few turns and
// tools.
func benchBody(tb testing.TB) []byte {
	var msgs []map[string]string
	msgs = append(msgs, map[string]string{"role": "system", "content": string(bytes.Repeat([]byte("You are a careful assistant. "), 40))})
	for i := range 8 {
		msgs = append(msgs,
			map[string]string{"role": "user", "content": string(bytes.Repeat([]byte("Tell me about the weather. "), 10+i))},
			map[string]string{"role": "assistant", "content": string(bytes.Repeat([]byte("It is sunny in Paris today. "), 12))})
	}
	var req map[string]any
	if err := json.Unmarshal(readTestdata(tb, "chat_request.json"), &req); err != nil {
		tb.Fatal(err)
	}
	req["messages"] = msgs
	b, err := json.Marshal(req)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func BenchmarkRewriteBody(b *testing.B) {
	body := benchBody(b)
	b.Run("splice", func(b *testing.B) {
		req := &llm.ChatRequest{Model: "gpt-4o-mini", Body: body}
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := chatBody(req, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rewriteViaMap(body, "gpt-4o-mini"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzRewriteObject checks that the splice never panics, and that a valid
// object always becomes a valid object.
func FuzzRewriteObject(f *testing.F) {
	for _, s := range []string{`{"model":"x","stream":true}`, `{}`, `{"a":}`, `{"a":1}{`, `{"mod\u0065l":[1,{"b":"}"}]}`, `{"stream_options":{"x":1}} `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		req := &llm.ChatRequest{Model: "m", Body: in}
		for _, stream := range []bool{false, true} {
			out, err := chatBody(req, stream)
			valid := json.Valid(in) && bytes.HasPrefix(bytes.TrimSpace(in), []byte("{"))
			if valid && (err != nil || !json.Valid(out)) {
				t.Fatalf("%q (stream %v): %s, %v", in, stream, out, err)
			}
		}
	})
}

// A continuation's body is the client's, with the text so far appended as
// the last message, vLLM's continuation flags, and the client's token
// bound cut to what is left of it; a bound the client did not send is not
// added.
func TestContinuationBody(t *testing.T) {
	msgs := []llm.Message{{Role: "user", Content: "hi"}, {Role: "assistant", Content: "so far"}}
	req := &llm.ChatRequest{Model: "m", Continue: true, MaxTokens: 56, Messages: msgs,
		Body: []byte(`{"model":"chat","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`)}
	b, err := chatBody(req, true)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		MaxTokens int `json:"max_tokens"`
		Messages  []struct {
			Role, Content string
		} `json:"messages"`
		Continue bool  `json:"continue_final_message"`
		AddGen   *bool `json:"add_generation_prompt"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if got.MaxTokens != 56 || len(got.Messages) != 2 || got.Messages[1].Content != "so far" || !got.Continue || got.AddGen == nil || *got.AddGen {
		t.Errorf("continuation body %s", b)
	}
	req.Body = []byte(`{"model":"chat","messages":[{"role":"user","content":"hi"}]}`)
	if b, err = chatBody(req, true); err != nil || bytes.Contains(b, []byte("max_tokens")) || bytes.Contains(b, []byte("max_completion_tokens")) {
		t.Errorf("a bound the client did not send was added: %s %v", b, err)
	}
}
