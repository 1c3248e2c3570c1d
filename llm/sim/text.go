package sim

import (
	"math/rand/v2"

	"github.com/bulwark-ai/bulwark/llm"
)

// Token counting: there is no tokenizer. A text costs a token per four
// bytes, rounded up; a chat prompt adds OpenAI-like overheads per message and
// for priming the reply.
const (
	tokensPerMessage = 4
	tokensPerReply   = 3
)

func textTokens(s string) int { return (len(s) + 3) / 4 }

func promptTokens(msgs []llm.Message) int {
	n := tokensPerReply
	for i := range msgs {
		n += tokensPerMessage + textTokens(msgs[i].Content) + textTokens(msgs[i].Name)
	}
	return n
}

// Hashing. Content and embeddings are functions of their input through
// these: a fast multiplicative hash over 8-byte words, finished with
// splitmix64's mixer. They only need to spread well, not resist attack.
const (
	hashSeed = 0x6a09e667f3bcc908
	hashMul  = 0x9e3779b97f4a7c15
)

// mix is splitmix64's finaliser: a bijection that spreads every input bit.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashString folds s into h. The length is folded in too, so that
// consecutive strings hash differently from their concatenation.
func hashString(h uint64, s string) uint64 {
	for len(s) >= 8 {
		w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		h = (h ^ w) * hashMul
		h ^= h >> 29
		s = s[8:]
	}
	var w uint64
	for i := 0; i < len(s); i++ {
		w |= uint64(s[i]) << (8 * i)
	}
	h = (h ^ w ^ uint64(len(s)+1)<<58) * hashMul
	return h ^ h>>31
}

// contentKey is what an answer's text is a function of: the simulator's seed
// and the model (in m.key), the messages, and the request's seed.
func (m *model) contentKey(req *llm.ChatRequest) uint64 {
	h := m.key
	for i := range req.Messages {
		msg := &req.Messages[i]
		h = hashString(h, msg.Role)
		h = hashString(h, msg.Content)
		h = hashString(h, msg.Name)
	}
	if req.Seed != nil {
		h = mix(h ^ mix(uint64(*req.Seed)+hashMul))
	}
	return mix(h)
}

// vocabulary is what answers are made of. The words are plain ASCII and
// need no JSON escaping.
var vocabulary = [...]string{
	"the", "a", "model", "gateway", "request", "answer", "token", "stream",
	"latency", "system", "user", "data", "quickly", "slowly", "every", "some",
	"is", "was", "will", "can", "should", "might", "runs", "sends",
	"returns", "reads", "writes", "waits", "retries", "fails", "works", "scales",
	"and", "but", "so", "because", "while", "when", "if", "then",
	"of", "to", "in", "on", "with", "for", "from", "by",
	"network", "server", "client", "cache", "queue", "limit", "budget", "route",
	"error", "result", "value", "time", "minute", "second", "window", "context",
	"simple", "careful", "robust", "steady", "bright", "quiet", "early", "late",
	"river", "mountain", "garden", "valley", "harbor", "forest", "city", "road",
	"small", "large", "new", "old", "first", "last", "next", "other",
	"people", "engineer", "team", "service", "provider", "replica", "region", "zone",
	"it", "they", "we", "this", "that", "these", "those", "there",
	"always", "never", "often", "rarely", "here", "now", "again", "together",
	"clear", "good", "fast", "safe", "open", "closed", "ready", "busy",
	"plan", "test", "check", "measure", "observe", "report", "build", "ship",
}

// capitalised holds the vocabulary with a capital first letter, for the
// first word of a sentence.
var capitalised = func() (out [len(vocabulary)]string) {
	for i, w := range vocabulary {
		out[i] = string(w[0]-'a'+'A') + w[1:]
	}
	return out
}()

// words generates one choice's text, a word (token) at a time, from its own
// generator.
type words struct {
	pcg  rand.PCG
	left int // words left in the current sentence
	n    int // words emitted
}

// next appends the next word, with a leading space unless it is the first.
// A word that ends a sentence carries a full stop; end asks for one (the last
// word of an answer that stopped on its own).
func (g *words) next(b []byte, end bool) []byte {
	x := g.pcg.Uint64()
	start := g.left == 0
	if start {
		g.left = 5 + int(x>>60)%10 // 5 to 14 words
	}
	g.left--
	if g.n > 0 {
		b = append(b, ' ')
	}
	g.n++
	i := int((x & 0xffffffff) * uint64(len(vocabulary)) >> 32)
	if start {
		b = append(b, capitalised[i]...)
	} else {
		b = append(b, vocabulary[i]...)
	}
	if g.left == 0 || end {
		b = append(b, '.')
		g.left = 0
	}
	return b
}
