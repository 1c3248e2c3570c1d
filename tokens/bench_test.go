package tokens

import (
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

// prompt1k is a chat prompt of about 1,000 tokens: a system message and a
// few turns of English prose and Go code.
func prompt1k() *llm.ChatRequest {
	prose := strings.Repeat("Bulwark keeps applications up when the models they depend on are slow, throttled or down. ", 13)
	code := strings.Repeat("func (g *Gateway) Chat(ctx context.Context, p tenant.Principal) error {\n\treturn nil\n}\n", 8)
	return &llm.ChatRequest{Messages: []llm.Message{
		{Role: "system", Content: "You are a careful assistant. Answer briefly."},
		{Role: "user", Content: prose},
		{Role: "assistant", Content: prose},
		{Role: "user", Content: code + prose},
	}}
}

func BenchmarkChat1k(b *testing.B) {
	for _, model := range []string{"gpt-4o", "gpt-4"} {
		b.Run(model, func(b *testing.B) {
			c, req := For(model), prompt1k()
			c.Chat(req) // loads the vocabulary
			b.ReportAllocs()
			for b.Loop() {
				c.Chat(req)
			}
			b.ReportMetric(float64(c.Chat(req).Tokens), "tokens/op")
		})
	}
}

// BenchmarkTiktokenGo1k is what the same prompt's text costs with
// tiktoken-go's encoder, for comparison (see the package doc).
func BenchmarkTiktokenGo1k(b *testing.B) {
	tk, err := o200k.reference()
	if err != nil {
		b.Fatal(err)
	}
	req := prompt1k()
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range req.Messages {
			tk.EncodeOrdinary(m.Content)
		}
	}
}

// BenchmarkChatBounded is a request over MaxExactBytes: one pass over its
// bytes, no encoding.
func BenchmarkChatBounded(b *testing.B) {
	c := For("gpt-4o")
	req := &llm.ChatRequest{Messages: []llm.Message{{Role: "user", Content: strings.Repeat("word ", MaxExactBytes/4)}}}
	c.Chat(req)
	b.SetBytes(int64(len(req.Messages[0].Content)))
	b.ReportAllocs()
	for b.Loop() {
		c.Chat(req)
	}
}
