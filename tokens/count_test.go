package tokens

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

// cookbook is the example of OpenAI's "How to count tokens with tiktoken",
// whose prompt the API reports as 129 tokens for gpt-4 and gpt-3.5-turbo
// and 124 for gpt-4o and gpt-4o-mini.
var cookbook = []llm.Message{
	{Role: "system", Content: "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
	{Role: "system", Name: "example_user", Content: "New synergies will help drive top-line growth."},
	{Role: "system", Name: "example_assistant", Content: "Things working well together will increase revenue."},
	{Role: "system", Name: "example_user", Content: "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
	{Role: "system", Name: "example_assistant", Content: "Let's talk later when we're less busy about how to do better."},
	{Role: "user", Content: "This late pivot means we don't have time to boil the ocean for the client deliverable."},
}

func TestChatMatchesOpenAI(t *testing.T) {
	for model, want := range map[string]int{
		"gpt-4": 129, "gpt-4-0613": 129, "gpt-3.5-turbo": 129, "gpt-4o": 124, "gpt-4o-mini": 124,
		"openai/gpt-4o-2024-08-06": 124,
	} {
		c := For(model)
		if got := c.Chat(&llm.ChatRequest{Messages: cookbook}); got.Tokens != want || got.Min != want || !c.Exact() {
			t.Errorf("%s (%s): %+v, want %d", model, c.Encoding(), got, want)
		}
	}
}

func TestText(t *testing.T) {
	for _, tc := range []struct {
		model, text string
		want        int
	}{
		{"gpt-4", "tiktoken is great!", 6},
		{"gpt-4o", "tiktoken is great!", 6},
		{"gpt-4", "", 0},
		// Special tokens in client text are ordinary text.
		{"gpt-4", "<|endoftext|>", 7},
	} {
		if got := For(tc.model).Text(tc.text); got != tc.want {
			t.Errorf("%s %q = %d, want %d", tc.model, tc.text, got, tc.want)
		}
	}
}

func TestFamilies(t *testing.T) {
	for model, enc := range map[string]string{
		"gpt-4o": "o200k_base", "GPT-4o-mini": "o200k_base", "gpt-4.1-nano": "o200k_base", "gpt-5": "o200k_base",
		"o1": "o200k_base", "o3-mini": "o200k_base", "o4-mini-2025-04-16": "o200k_base", "ft:gpt-4o-mini:acme::x": "o200k_base",
		"gpt-4": "cl100k_base", "gpt-4-turbo": "cl100k_base", "gpt-3.5-turbo-0125": "cl100k_base", "gpt-35-turbo": "cl100k_base",
		"text-embedding-3-small": "cl100k_base", "text-embedding-ada-002": "cl100k_base",
	} {
		if c := For(model); c.Encoding() != enc || !c.Exact() {
			t.Errorf("%s: %s (exact %v), want %s", model, c.Encoding(), c.Exact(), enc)
		}
	}
	for _, model := range []string{"llama3.1:8b", "meta-llama/Llama-3.1-8B-Instruct", "claude-3-5-sonnet", "sim-chat", "o1x", "gpt-4x"} {
		if c := For(model); c.Exact() || c.Encoding() != "cl100k_base" {
			t.Errorf("%s: %s (exact %v), want the cl100k_base estimate", model, c.Encoding(), c.Exact())
		}
	}
}

func TestWindow(t *testing.T) {
	for model, want := range map[string]int{
		"gpt-4o": 128_000, "gpt-4o-2024-08-06": 128_000, "gpt-4.1-mini": 1_047_576, "gpt-5-mini": 400_000,
		"gpt-5-chat-latest": 128_000, "o1-mini": 128_000, "o1": 200_000, "o3-mini": 200_000,
		"gpt-4": 8_192, "gpt-4-0613": 8_192, "gpt-4-32k-0613": 32_768, "gpt-4-turbo-2024-04-09": 128_000,
		"gpt-3.5-turbo": 16_385, "gpt-3.5-turbo-instruct": 4_096, "text-embedding-3-large": 8_191,
		"azure/gpt-4o": 128_000, "llama3": 0, "sim-chat": 0, "gpt-4x": 0,
		"claude-sonnet-4-5": 200_000, "claude-3-5-haiku-20241022": 200_000, "anthropic/claude-opus-4-1": 200_000,
		"us.anthropic.claude-sonnet-4-5-20250929-v1:0": 200_000, "anthropic.claude-3-haiku-20240307-v1:0": 200_000,
		"gemini-2.5-flash": 1_048_576, "gemini-1.5-pro-002": 2_097_152, "gemini-embedding-001": 2_048,
		"amazon.titan-embed-text-v2:0": 8_192, "cohere.embed-english-v3": 512, "claudette": 0, "us.gpt-4o": 0,
		"us.meta.llama3-70b-instruct-v1:0": 0,
	} {
		if got := Window(model); got != want {
			t.Errorf("Window(%q) = %d, want %d", model, got, want)
		}
	}
}

// Images, tools and tool calls come from the body; a body without them is
// not decoded, and one that does not decode adds nothing.
func TestChatExtras(t *testing.T) {
	c := For("gpt-4o")
	msgs := []llm.Message{{Role: "user", Content: "What is in this image?"}}
	base := c.Chat(&llm.ChatRequest{Messages: msgs}).Tokens
	for name, tc := range map[string]struct {
		body string
		add  int
	}{
		"plain": {`{"messages":[{"role":"user","content":"What is in this image?"}]}`, 0},
		"image low": {`{"messages":[{"role":"user","content":[{"type":"text","text":"What is in this image?"},
			{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]}]}`, imageLow},
		"image auto": {`{"messages":[{"role":"user","content":[{"type":"text","text":"What is in this image?"},
			{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, imageHigh},
		"broken": {`{"messages":[{"role":"user","content":"x"}],"tools":17}`, 0},
	} {
		got := c.Chat(&llm.ChatRequest{Messages: msgs, Body: []byte(tc.body)}).Tokens
		if got != base+tc.add {
			t.Errorf("%s: %d, want %d", name, got, base+tc.add)
		}
	}

	tools := `{"messages":[{"role":"user","content":"What is in this image?"}],"tools":[{"type":"function","function":{
		"name":"get_weather","description":"Get the weather.","parameters":{"type":"object","properties":{
		"city":{"type":"string","description":"The city"},"unit":{"type":"string","enum":["c","f"]}}}}}]}`
	got := c.Chat(&llm.ChatRequest{Messages: msgs, Body: []byte(tools)}).Tokens
	want := base + toolsFrame + perFunction + c.Text("get_weather:Get the weather") + perParams +
		perParam + c.Text("city:string:The city") +
		perParam + perEnum + perEnumItem + c.Text("c") + perEnumItem + c.Text("f") + c.Text("unit:string:")
	if got != want {
		t.Errorf("tools: %d, want %d", got, want)
	}

	calls := `{"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function",
		"function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}]}`
	am := []llm.Message{{Role: "assistant"}}
	got = c.Chat(&llm.ChatRequest{Messages: am, Body: []byte(calls)}).Tokens
	want = c.Chat(&llm.ChatRequest{Messages: am}).Tokens + perToolCall + c.Text("get_weather") + c.Text(`{"city":"Paris"}`)
	if got != want {
		t.Errorf("tool calls: %d, want %d", got, want)
	}
}

// corpus is text that exercises every alternative of both pre-tokenizers.
var corpus = []string{
	strings.Repeat("The quick brown fox jumps over the lazy dog. ", 20),
	"func main() {\n\tfmt.Println(\"héllo, 世界\")  // x  y\n}\n\r\n\n  \t\n",
	"a  b   c    d\t\te 12345 ,,, !! ?? ... --- /// //x a/b/c \n/ ",
	"It's I'M we'RE they've you'd she'll 'tis O'Neil don't 'S 'x '' ''s",
	"camelCaseWord HTTPServer XMLHttpRequest iPhone McDONALD'S ÀÉÎõü ǅungla Ǆ",
	"東京は日本の首都です。 한국어 텍스트 Ελληνικά Русский текст العربية עברית हिन्दी",
	"e\u0301x a\u0308\u0301 \u0301\u0301 ◌̀ x\u200dy 😀👍🏽 🇫🇷 ١٢٣٤٥ ⅻ ½ 2³ ①②",
	"\u00a0\u00a0x \u3000y\u2028z\u2029 \u0085 \v\f  \r\r\n",
	"<|endoftext|> <|im_start|>system\n<|fim_prefix|>",
	"1234567890 12.5% $3,000.00 0x1F 1e10 3-4 v1.2.3 2026-11-22T07:37:15Z",
	"   leading and trailing   ", " ", "\n", "x", "'", "''", "'s", "\u0301", "   \n   x",
}

// Counter counts what tiktoken-go's encoder counts, token for token.
func TestCountMatchesTiktoken(t *testing.T) {
	for _, e := range []*encoding{o200k, cl100k} {
		tk, err := e.reference()
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range corpus {
			if got, want := e.count(text), len(tk.EncodeOrdinary(text)); got != want {
				t.Errorf("%s: %d tokens, tiktoken-go %d, for %q", e.name, got, want, text)
			}
		}
	}
}

// A piece the merge would take quadratic time over (one enormous word, a
// long run of spaces) is merged in parts and counted within a few tokens.
func TestPathologicalText(t *testing.T) {
	c := For("gpt-4o")
	for _, text := range []string{strings.Repeat("a", 100_000), strings.Repeat(" ", 100_000) + "x"} {
		if n := c.Text(text); n < len(text)/128 || n > len(text)/2 {
			t.Errorf("%d bytes: %d tokens", len(text), n)
		}
	}
}

// Beyond MaxExactBytes a request is bounded, not encoded: Min is a true
// lower bound, Tokens at least four bytes a token.
func TestHugeRequestIsBounded(t *testing.T) {
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. It's 2026. ", 6000)
	req := &llm.ChatRequest{Messages: []llm.Message{{Role: "user", Content: text}}}
	c := For("gpt-4o")
	got := c.Chat(req)
	exact := c.Text(text) + tokensPerMessage + replyPriming + 1
	if got.Min > exact || got.Min < exact/2 || got.Tokens < len(text)/4 {
		t.Errorf("%d bytes: %+v; exact %d", len(text), got, exact)
	}
	e := c.Embed(&llm.EmbedRequest{Input: []string{text, "short"}})
	if e.Largest != lowerBound(text) || e.Min != lowerBound(text)+lowerBound("short") {
		t.Errorf("embed: %+v", e)
	}
}

func TestLowerBound(t *testing.T) {
	for _, model := range []string{"gpt-4o", "gpt-4"} {
		c := For(model)
		for _, text := range []string{
			"", "hello", "It's a dog's life, isn't it? 1234567 items.", "ééé naïve café 東京 ١٢٣٤",
			"e\u0301x ab'cd 'quoted' l'homme", "snake_case camelCaseWord HTTPServer x1y2z3",
		} {
			if lb, n := lowerBound(text), c.Text(text); lb > n {
				t.Errorf("%s %q: lower bound %d > %d tokens", model, text, lb, n)
			}
		}
	}
}

func TestEmbed(t *testing.T) {
	c := For("text-embedding-3-small")
	got := c.Embed(&llm.EmbedRequest{Input: []string{"tiktoken is great!", "hello"}})
	if got.Tokens != 7 || got.Min != 7 || got.Largest != 6 {
		t.Errorf("%+v", got)
	}
}

// Random text over an alphabet with a rune of every class the two
// pre-tokenizers tell apart counts as tiktoken-go counts it.
func TestRandomTextMatchesTiktoken(t *testing.T) {
	alphabet := []rune("aZq'sSlLdD/ \n\r\t.,!-_0918\u0301\u0308\u02b0\u01c5\u00aa\u6771\u4eac\ud55c\u2167\u00bd\u00b2\u00a0\u3000\u2028\u0085\U0001F600\u0663\u00e9\u00c9\u0130\u017f")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, e := range []*encoding{o200k, cl100k} {
		tk, err := e.reference()
		if err != nil {
			t.Fatal(err)
		}
		for range 3000 {
			var b strings.Builder
			for range rng.IntN(60) {
				b.WriteRune(alphabet[rng.IntN(len(alphabet))])
			}
			text := b.String()
			if got, want := e.count(text), len(tk.EncodeOrdinary(text)); got != want {
				t.Fatalf("%s: %d tokens, tiktoken-go %d, for %q", e.name, got, want, text)
			}
		}
	}
}

// For and Window run once per target and request: they allocate nothing.
func TestModelLookupsDoNotAllocate(t *testing.T) {
	for _, model := range []string{"gpt-4o-2024-08-06", "meta-llama/Llama-3.1-8B-Instruct", "ft:GPT-4o-mini:acme::x"} {
		if n := testing.AllocsPerRun(100, func() { For(model); Window(model) }); n != 0 {
			t.Errorf("%s: %v allocations", model, n)
		}
	}
}
