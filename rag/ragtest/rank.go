package ragtest

import (
	"fmt"
	"testing"

	"github.com/bulwark-ai/bulwark/rag"
)

// testKeywordRanking: keyword search ranks as BM25 does, in both shapes.
// A word rare in the store outweighs a common one, and of two chunks that
// hold a word as often, the shorter ranks first.
func testKeywordRanking(t *testing.T, r rag.Repo) {
	ctx := t.Context()
	putStore(t, r, "acme", "vs", 0)
	putFile(t, r, "acme", "f", 1)
	attach(t, r, "acme", "vs", "f", 2)
	var chunks []rag.Chunk
	// Chunk 0 holds the common word, first by key; the last the rare one.
	for i := range 6 {
		chunks = append(chunks, mkChunk("vs", "f", i, fmt.Sprintf("Harbour report %d mentions the lighthouse keeper.", i)))
	}
	// The same length as the others, so that only the word's rarity tells
	// them apart.
	chunks = append(chunks,
		mkChunk("vs", "f", 6, "Harbour report 6 mentions the albatross keeper."),
		mkChunk("vs", "f", 7, "A storm petrel, wings wet with spray, followed the trawler through grey weather for many long miles before the albatross came."),
	)
	chunks = putChunks(t, r, chunks...)
	rank := func(q string) []uint64 {
		t.Helper()
		var keys []uint64
		must(t, "Keyword "+q, r.Keyword(ctx, "vs", q, func(key uint64, _ float64) bool {
			keys = append(keys, key)
			return true
		}))
		return keys
	}
	if keys := rank("lighthouse albatross"); len(keys) != 8 || keys[0] != chunks[6].Key {
		t.Errorf("Keyword(lighthouse albatross) = %v; want the chunk with the rare word (%d) first", keys, chunks[6].Key)
	}
	if keys := rank("albatross"); len(keys) != 2 || keys[0] != chunks[6].Key {
		t.Errorf("Keyword(albatross) = %v; want the shorter chunk %d first", keys, chunks[6].Key)
	}
}
