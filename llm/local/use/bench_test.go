package use

import (
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

// benchText returns a text of n English words drawn from a fixed list,
// with capitals and punctuation, deterministic.
func benchText(n int, seed uint64) string {
	words := strings.Fields(`the of and to in a is that for it as was with be by on not he
		this are or his from at which but have an they you were her she there one all their
		would been has more if will when who so no about out up into them some could time
		system request gateway model provider latency capacity retrieval document knowledge
		river mountain history science government language network market energy summer`)
	rng := rand.New(rand.NewPCG(seed, 7))
	var b strings.Builder
	for i := range n {
		w := words[rng.IntN(len(words))]
		if i%14 == 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		b.WriteString(w)
		switch r := rng.IntN(20); {
		case i == n-1:
		case r == 0:
			b.WriteString(". ")
		case r == 1:
			b.WriteString(", ")
		default:
			b.WriteByte(' ')
		}
	}
	return b.String()
}

func benchEmbed(b *testing.B, texts []string, unit string) {
	p := New("local")
	if err := p.Load(); err != nil {
		b.Fatal(err)
	}
	req := &llm.EmbedRequest{Model: Model, Input: make([]string, 1)}
	b.ReportAllocs()
	tokens, i := 0, 0
	for b.Loop() {
		req.Input[0] = texts[i%len(texts)]
		i++
		resp, err := p.Embed(b.Context(), req)
		if err != nil {
			b.Fatal(err)
		}
		tokens += resp.Usage.PromptTokens
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit+"/s")
	b.ReportMetric(float64(tokens)/float64(b.N), "tokens/op")
}

// BenchmarkEmbedQuestion embeds one 15-word question per operation, the
// size of a search query or a chat prompt in the semantic cache.
func BenchmarkEmbedQuestion(b *testing.B) {
	texts := make([]string, 16)
	for i := range texts {
		texts[i] = benchText(15, uint64(i)) + "?"
	}
	benchEmbed(b, texts, "questions")
}

// BenchmarkEmbedChunk embeds one 800-word chunk per operation, what a
// knowledge base's chunker cuts documents into. The model reads its first
// MaxTokens tokens.
func BenchmarkEmbedChunk(b *testing.B) {
	texts := make([]string, 16)
	for i := range texts {
		texts[i] = benchText(800, uint64(i))
	}
	benchEmbed(b, texts, "chunks")
}

// BenchmarkLoad decodes the weights from the embedded bytes, which the
// first Embed of a process pays for, and reports the heap they keep.
func BenchmarkLoad(b *testing.B) {
	var kept uint64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m, err := decodeModel(useBin)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		kept = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(m)
	}
	b.ReportMetric(float64(kept)/(1<<20), "MiB-heap")
	b.ReportMetric(float64(len(useBin))/(1<<20), "MiB-embedded")
}
