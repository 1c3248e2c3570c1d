package sqlite_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/rag/chunk"
	"github.com/bulwark-ai/bulwark/sqlite"
)

// kbWords is a vocabulary for synthetic chunks, drawn with Zipf's law
// as words of real text are.
func kbText(rnd *rand.Rand, z *rand.Zipf, n int) string {
	var b strings.Builder
	for range n {
		fmt.Fprintf(&b, "w%d ", z.Uint64())
	}
	return b.String()
}

func fillStore(b *testing.B, db *sqlite.DB, tenant, store string, chunks int, rnd *rand.Rand) {
	ctx := b.Context()
	now := time.Now()
	if err := db.PutStore(ctx, rag.Store{ID: store, TenantID: tenant, Name: store, EmbedModel: "embed", CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	z := rand.NewZipf(rnd, 1.1, 1, 50000)
	const perFile = 500
	for f := 0; f*perFile < chunks; f++ {
		fileID := fmt.Sprintf("%s-f%d", store, f)
		if err := db.PutFile(ctx, rag.File{ID: fileID, TenantID: tenant, Filename: fileID, Purpose: "assistants", Bytes: 1, SHA256: fmt.Sprintf("%064d", f), CreatedAt: now}, []byte("x")); err != nil {
			b.Fatal(err)
		}
		if err := db.AttachFile(ctx, rag.StoreFile{StoreID: store, FileID: fileID, TenantID: tenant, Chunking: chunk.Strategy{Type: "auto"}, CreatedAt: now}); err != nil {
			b.Fatal(err)
		}
		cs := make([]rag.Chunk, 0, perFile)
		for i := range min(perFile, chunks-f*perFile) {
			cs = append(cs, rag.Chunk{StoreID: store, FileID: fileID, Index: i, Text: kbText(rnd, z, 120), Hash: fmt.Sprint(i), Tokens: 120, Vector: []float32{1}})
		}
		if _, err := db.PutChunks(ctx, cs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKeywordNoisyNeighbour is keyword search in a store of 200
// chunks while another tenant's store holds 100,000.
func BenchmarkKeywordNoisyNeighbour(b *testing.B) {
	db, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "bulwark.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rnd := rand.New(rand.NewPCG(1, 2))
	fillStore(b, db, "big", "vs-big", 100000, rnd)
	fillStore(b, db, "small", "vs-small", 200, rnd)
	b.ResetTimer()
	for b.Loop() {
		n := 0
		if err := db.Keyword(b.Context(), "vs-small", "w1 w3 w10 w200", func(uint64, float64) bool { n++; return n < 50 }); err != nil {
			b.Fatal(err)
		}
	}
}
