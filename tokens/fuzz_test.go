package tokens

import (
	"testing"
	"unicode/utf8"

	"github.com/bulwark-ai/bulwark/llm"
)

// FuzzCount counts arbitrary message content and request bodies in every
// encoding: it must not panic, it must count valid text as tiktoken-go
// does, its lower bound must be one, and a chat prompt counts at least its
// framing.
func FuzzCount(f *testing.F) {
	f.Add("Hello, world! It's 2026.", "bob", []byte(`{"messages":[{"role":"user","content":"hi"}]}`))
	f.Add("<|endoftext|> <|im_start|>system", "", []byte(`{"tools":[{"type":"function","function":{"name":"f","parameters":{"properties":{"a":{"enum":[1,"x",null]}}}}}]}`))
	f.Add("ééé naïve café 東京 ١٢٣٤ e\u0301x \xff\xfe", "", []byte(`{"messages":[{"content":[{"type":"image_url","image_url":{"detail":"low"}}]}]}`))
	f.Add("    \n\n\t  x  \r\n  12345678901 ,,,!!", "", []byte(`{"tool_calls":[{"function":{"name":"g","arguments":"{}"}}],"messages":17}`))
	f.Fuzz(func(t *testing.T, content, name string, body []byte) {
		for _, c := range []*Counter{o200kCounter, cl100kCounter, defaultCounter} {
			n := c.Text(content)
			if lb := lowerBound(content); lb > n && utf8.ValidString(content) {
				t.Fatalf("%s: lower bound %d > %d tokens of %q", c.Encoding(), lb, n, content)
			}
			if utf8.ValidString(content) && c.enc.exact(content) {
				tk, err := c.enc.reference()
				if err != nil {
					t.Fatal(err)
				}
				if whole := len(tk.EncodeOrdinary(content)); whole != n {
					t.Fatalf("%s: %d tokens, tiktoken-go %d, for %q", c.Encoding(), n, whole, content)
				}
			}
			req := &llm.ChatRequest{Body: body, Messages: []llm.Message{{Role: "user", Content: content, Name: name}}}
			got := c.Chat(req)
			if got.Min < tokensPerMessage+replyPriming+1 || got.Tokens < got.Min || got.Bounded {
				t.Fatalf("%s: chat count %+v", c.Encoding(), got)
			}
			e := c.Embed(&llm.EmbedRequest{Input: []string{content, name}})
			if e.Tokens != n+c.Text(name) || e.Largest > e.Min || e.Min > e.Tokens {
				t.Fatalf("%s: embed count %+v", c.Encoding(), e)
			}
			// Counted with the model's own encoding, the count is exact;
			// an estimate is sure only of its bound.
			if c.Exact() && (e.Min != e.Tokens || got.Min != got.Tokens) {
				t.Fatalf("%s: exact counts %+v, %+v with Min below Tokens", c.Encoding(), got, e)
			}
		}
	})
}
