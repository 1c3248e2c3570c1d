package local

import (
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

// chunkWords is the length of a benchmark chunk: what a knowledge base's
// chunker cuts English text into (about 800 tokens).
const chunkWords = 800

// benchChunks returns n chunks of chunkWords English words. Words are
// drawn from the table's vocabulary with Zipf-distributed ranks, as in
// running text, with punctuation and capitals sprinkled in, so that map
// lookups and cache misses are those of real text rather than of one
// sentence repeated.
func benchChunks(tb testing.TB, n int) []string {
	tb.Helper()
	t, err := loadTable()
	if err != nil {
		tb.Fatal(err)
	}
	words := make([]string, len(t.index))
	for w, i := range t.index {
		words[i] = w
	}
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.07, 2, uint64(len(words)-1))
	chunks := make([]string, n)
	var b strings.Builder
	for c := range chunks {
		b.Reset()
		for i := range chunkWords {
			w := words[zipf.Uint64()]
			if i%14 == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			}
			b.WriteString(w)
			switch r := rng.IntN(20); {
			case r == 0:
				b.WriteString(". ")
			case r == 1:
				b.WriteString(", ")
			default:
				b.WriteByte(' ')
			}
		}
		chunks[c] = b.String()
	}
	return chunks
}

// BenchmarkEmbedChunk embeds one ~800-token chunk per operation through
// Embed, on one goroutine, and reports chunks/s.
func BenchmarkEmbedChunk(b *testing.B) {
	chunks := benchChunks(b, 64)
	p := New("local")
	if err := p.Load(); err != nil {
		b.Fatal(err)
	}
	req := &llm.EmbedRequest{Model: Model, Input: make([]string, 1)}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		req.Input[0] = chunks[i%len(chunks)]
		i++
		if _, err := p.Embed(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "chunks/s")
}

// BenchmarkEmbedChunkParallel is BenchmarkEmbedChunk on every core
// (GOMAXPROCS goroutines), as a busy gateway runs it.
func BenchmarkEmbedChunkParallel(b *testing.B) {
	chunks := benchChunks(b, 64)
	p := New("local")
	if err := p.Load(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := &llm.EmbedRequest{Model: Model, Input: make([]string, 1)}
		i := 0
		for pb.Next() {
			req.Input[0] = chunks[i%len(chunks)]
			i++
			if _, err := p.Embed(b.Context(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "chunks/s")
}

// BenchmarkLoad decodes the table from the embedded bytes, which the first
// Embed of a process pays for, and reports the heap it keeps.
func BenchmarkLoad(b *testing.B) {
	var kept uint64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		t, err := decodeTable(gloveBin)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		kept = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(t)
	}
	b.ReportMetric(float64(kept)/(1<<20), "MiB-heap")
	b.ReportMetric(float64(len(gloveBin))/(1<<20), "MiB-embedded")
}
