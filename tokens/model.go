package tokens

import (
	"bytes"
	"strings"
)

// Counter counts tokens for one model family. It is safe for concurrent
// use.
type Counter struct {
	enc   *encoding
	exact bool
}

var (
	o200kCounter   = &Counter{enc: o200k, exact: true}
	cl100kCounter  = &Counter{enc: cl100k, exact: true}
	defaultCounter = &Counter{enc: cl100k}
)

// For returns the counter of an upstream model name: the encoding of its
// OpenAI family, or the cl100k_base estimate for any other model (see the
// package doc). A provider prefix ("openai/gpt-4o") and a fine-tune's
// "ft:" are ignored.
func For(model string) *Counter {
	switch family(model) {
	case "o200k":
		return o200kCounter
	case "cl100k":
		return cl100kCounter
	}
	return defaultCounter
}

// Preload loads every vocabulary now rather than on first use, so that
// the first request does not wait for it (about 0.25 s in all). Safe to
// call more than once and concurrently with counting.
func Preload() {
	for _, e := range vocabularies {
		_, _ = e.ranks()
	}
}

// vocabularies are the encodings Preload loads.
var vocabularies = []*encoding{o200k, cl100k}

// Encoding returns the name of the counter's encoding.
func (c *Counter) Encoding() string { return c.enc.name }

// Exact reports whether the counter's encoding is the model's own, so
// that its counts are OpenAI's; false for an estimate.
func (c *Counter) Exact() bool { return c.exact }

// Text returns the tokens of s, however long.
func (c *Counter) Text(s string) int { return c.enc.count(s) }

// families maps model name prefixes to encodings; the longest prefix
// that matches wins (see match).
var families = map[string]string{
	"gpt-4o": "o200k", "chatgpt-4o": "o200k", "gpt-4.1": "o200k", "gpt-4.5": "o200k",
	"gpt-5": "o200k", "o1": "o200k", "o3": "o200k", "o4": "o200k", "gpt-oss": "o200k",
	"codex": "o200k", "omni-moderation": "o200k",
	"gpt-4": "cl100k", "gpt-3.5": "cl100k", "gpt-35": "cl100k",
	"text-embedding-3": "cl100k", "text-embedding-ada-002": "cl100k",
	"davinci-002": "cl100k", "babbage-002": "cl100k",
}

func family(model string) string {
	f, _ := match(families, model)
	return f
}

// windows are the context windows, in tokens (prompt and completion
// together), of OpenAI's models as OpenAI documents them; for embedding
// models, the most tokens of one input. Where snapshots of one name
// differ (gpt-3.5-turbo had 4,096 and now has 16,385) the larger is
// listed: an overestimate lets a prompt reach the upstream, which refuses
// it itself, while an underestimate would refuse a prompt the model takes.
var windows = map[string]int{
	"gpt-4o":                 128_000,
	"chatgpt-4o":             128_000,
	"gpt-4.1":                1_047_576,
	"gpt-4.5":                128_000,
	"gpt-5":                  400_000,
	"gpt-5-chat":             128_000,
	"o1":                     200_000,
	"o1-mini":                128_000,
	"o1-preview":             128_000,
	"o3":                     200_000,
	"o4-mini":                200_000,
	"gpt-oss":                131_072,
	"gpt-4":                  8_192,
	"gpt-4-32k":              32_768,
	"gpt-4-turbo":            128_000,
	"gpt-4-1106":             128_000,
	"gpt-4-0125":             128_000,
	"gpt-4-vision":           128_000,
	"gpt-3.5-turbo":          16_385,
	"gpt-3.5-turbo-instruct": 4_096,
	"gpt-35-turbo":           16_385,
	"gpt-35-turbo-instruct":  4_096,
	"text-embedding-3-small": 8_191,
	"text-embedding-3-large": 8_191,
	"text-embedding-ada-002": 8_191,

	// Other vendors, as their model pages state them (2026-12). Their
	// prompts are counted with cl100k_base, an estimate (Claude's own
	// tokenizer tends to yield more tokens for the same text, Gemini's
	// fewer); an alias's context_window overrides the window. Every Claude
	// model since Claude 3 has 200,000 (more only with a beta header the
	// client asks for). Gemini's are 1,048,576 but 1.5 Pro's. Embedding
	// models: the most tokens of one input.
	"claude":                200_000,
	"gemini":                1_048_576,
	"gemini-1.5-pro":        2_097_152,
	"gemini-embedding-001":  2_048,
	"text-embedding-004":    2_048,
	"nova-premier":          1_000_000,
	"nova-pro":              300_000,
	"nova-lite":             300_000,
	"nova-micro":            128_000,
	"titan-embed-text-v2":   8_192,
	"titan-embed-text-v1":   8_192,
	"embed-english-v3":      512,
	"embed-multilingual-v3": 512,
}

// bedrockPrefixes are the parts of a Bedrock model id before the model's
// own name: a cross-region inference profile's geography, then the
// vendor ("us.anthropic.claude-sonnet-4-5-20250929-v1:0").
var (
	bedrockGeos    = []string{"us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca."}
	bedrockVendors = []string{"anthropic.", "amazon.", "cohere.", "meta.", "mistral.", "ai21.", "deepseek.", "qwen.", "openai."}
)

// modelPart returns name without a Bedrock id's geography and vendor.
func modelPart(name []byte) []byte {
	for _, g := range bedrockGeos {
		if rest, ok := bytes.CutPrefix(name, []byte(g)); ok && vendorPrefixed(rest) {
			name = rest
			break
		}
	}
	for _, v := range bedrockVendors {
		if rest, ok := bytes.CutPrefix(name, []byte(v)); ok {
			return rest
		}
	}
	return name
}

func vendorPrefixed(name []byte) bool {
	for _, v := range bedrockVendors {
		if bytes.HasPrefix(name, []byte(v)) {
			return true
		}
	}
	return false
}

// Window returns the built-in context window of an OpenAI model name
// (windows), or zero when the model is not one Bulwark knows. A provider
// prefix and a fine-tune's "ft:" are ignored, and a dated snapshot
// ("gpt-4o-2024-08-06") has the window of its name.
func Window(model string) int {
	w, _ := match(windows, model)
	return w
}

// Match returns the value of the longest key of m that matches model as
// the built-in tables here are matched: the model's name or a prefix of it
// ending where the name continues with "-" or ":", compared in lower case,
// without a provider prefix ("azure/"), a fine-tune's "ft:" or a Bedrock
// id's geography and vendor ("us.anthropic."). Other packages key their
// own tables by model family with it (usage's built-in prices).
func Match[V any](m map[string]V, model string) (V, bool) {
	v, n := match(m, model)
	return v, n > 0
}

// MatchLen is Match that also says how long the matched key is (0 when
// none matched), so that a caller holding two tables can prefer the more
// specific of their matches.
func MatchLen[V any](m map[string]V, model string) (V, int) { return match(m, model) }

// match returns the value of the longest key of m that is the model's
// name or a prefix of it ending where the name continues with "-" or ":",
// and that key's length (0 when none is). The name is compared in ASCII
// lower case; it allocates nothing.
func match[V any](m map[string]V, model string) (V, int) {
	var buf [128]byte
	var name []byte
	if len(model) <= len(buf) {
		name = buf[:len(model)]
		for i := range len(model) {
			c := model[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			name[i] = c
		}
	} else {
		name = []byte(strings.ToLower(model))
	}
	if i := bytes.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	name = modelPart(bytes.TrimPrefix(name, []byte("ft:")))
	for end := len(name); end > 0; end-- {
		if end < len(name) && name[end] != '-' && name[end] != ':' {
			continue
		}
		if v, ok := m[string(name[:end])]; ok {
			return v, end
		}
	}
	var zero V
	return zero, 0
}
