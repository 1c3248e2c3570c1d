package ragtest

// The chunks of a store: storing, replacing and trimming them, their
// vectors and keys, keyword search, and what removing a file, a store or
// a file from a store does to them.

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/rag/chunk"
)

func chunkStore(t *testing.T, r rag.Repo) {
	putStore(t, r, "acme", "vs", 0)
	putFile(t, r, "acme", "f", 1)
	putFile(t, r, "acme", "g", 2)
	attach(t, r, "acme", "vs", "f", 3)
	attach(t, r, "acme", "vs", "g", 4)
}

func testChunks(t *testing.T, r rag.Repo) {
	ctx := t.Context()
	chunkStore(t, r)
	putStore(t, r, "acme", "vs2", 5)
	attach(t, r, "acme", "vs2", "f", 6)

	if replaced, err := r.PutChunks(ctx, nil); err != nil || len(replaced) != 0 {
		t.Errorf("PutChunks(nil) = %v, %v", replaced, err)
	}
	fc := putChunks(t, r, mkChunk("vs", "f", 0, "alpha"), mkChunk("vs", "f", 1, "beta"), mkChunk("vs", "f", 2, "gamma"))
	gc := putChunks(t, r, mkChunk("vs", "g", 0, "delta"))
	other := putChunks(t, r, mkChunk("vs2", "f", 0, "alpha"))
	all := append(append(slices.Clone(fc), gc...), other...)
	seen := map[uint64]bool{}
	for i, c := range all {
		if seen[c.Key] {
			t.Fatalf("key %d given twice", c.Key)
		}
		seen[c.Key] = true
		if i > 0 && c.Key <= all[i-1].Key {
			t.Errorf("keys not increasing: %v", keysOf(all))
		}
	}

	hashes, err := r.ChunkHashes(ctx, "vs", "f")
	if want := map[int]string{0: "h-f-0", 1: "h-f-1", 2: "h-f-2"}; err != nil || !maps.Equal(hashes, want) {
		t.Errorf("ChunkHashes = %v, %v; want %v", hashes, err, want)
	}
	if hashes, err := r.ChunkHashes(ctx, "vs", "nope"); err != nil || len(hashes) != 0 {
		t.Errorf("ChunkHashes of no chunks = %v, %v", hashes, err)
	}

	got, err := r.Chunks(ctx, append(keysOf(fc), 999999999))
	must(t, "Chunks", err)
	if len(got) != 3 {
		t.Errorf("Chunks = %d chunks; want 3 (a missing key is left out)", len(got))
	}
	for _, c := range fc {
		g := got[c.Key]
		want := c
		want.Vector = nil
		if g.Key != want.Key || g.StoreID != want.StoreID || g.FileID != want.FileID || g.Index != want.Index || g.Text != want.Text ||
			g.Page != want.Page || g.Section != want.Section || g.Hash != want.Hash || g.Tokens != want.Tokens {
			t.Errorf("Chunks[%d] = %+v; want %+v", c.Key, g, want)
		}
	}
	if got, err := r.Chunks(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("Chunks(nil) = %v, %v", got, err)
	}

	type kv struct {
		key  uint64
		file string
	}
	var files []kv
	must(t, "ChunkFiles", r.ChunkFiles(ctx, "vs", func(key uint64, fileID string) error {
		files = append(files, kv{key, fileID})
		return nil
	}))
	want := []kv{{fc[0].Key, "f"}, {fc[1].Key, "f"}, {fc[2].Key, "f"}, {gc[0].Key, "g"}}
	if !slices.Equal(files, want) {
		t.Errorf("ChunkFiles = %v; want %v", files, want)
	}
	stop := errors.New("stop")
	n := 0
	err = r.ChunkFiles(ctx, "vs", func(uint64, string) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("ChunkFiles with a failing callback = %v after %d calls; want its error after 1", err, n)
	}

	vectors := func(after uint64) map[uint64][]float32 {
		t.Helper()
		out := map[uint64][]float32{}
		var order []uint64
		must(t, "Vectors", r.Vectors(ctx, "vs", after, func(key uint64, fileID string, v []float32) error {
			out[key] = v
			order = append(order, key)
			return nil
		}))
		if !slices.IsSorted(order) {
			t.Errorf("Vectors not in key order: %v", order)
		}
		return out
	}
	vs := vectors(0)
	if len(vs) != 4 {
		t.Errorf("Vectors(0) = %d vectors; want 4", len(vs))
	}
	for _, c := range append(slices.Clone(fc), gc...) {
		if !slices.Equal(vs[c.Key], c.Vector) {
			t.Errorf("Vectors[%d] = %v; want %v", c.Key, vs[c.Key], c.Vector)
		}
	}
	if vs := vectors(fc[1].Key); len(vs) != 2 || vs[fc[2].Key] == nil || vs[gc[0].Key] == nil {
		t.Errorf("Vectors(after %d) = %v; want the last two", fc[1].Key, vs)
	}
	err = r.Vectors(ctx, "vs", 0, func(uint64, string, []float32) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("Vectors with a failing callback = %v", err)
	}

	byHash, err := r.VectorsByHash(ctx, "vs", []string{"h-f-1", "h-g-0", "missing"})
	if err != nil || len(byHash) != 2 || !slices.Equal(byHash["h-f-1"], vec(1)) || !slices.Equal(byHash["h-g-0"], vec(0)) {
		t.Errorf("VectorsByHash = %v, %v", byHash, err)
	}
	if byHash, err := r.VectorsByHash(ctx, "vs2", []string{"h-g-0"}); err != nil || len(byHash) != 0 {
		t.Errorf("VectorsByHash of another store's hash = %v, %v", byHash, err)
	}
	if byHash, err := r.VectorsByHash(ctx, "vs", nil); err != nil || len(byHash) != 0 {
		t.Errorf("VectorsByHash(nil) = %v, %v", byHash, err)
	}

	// Storing an index again replaces its chunk under a new key.
	again := mkChunk("vs", "f", 1, "beta two")
	again.Hash = "h-new"
	again.Vector = []float32{9, 9, 9, 9}
	add := mkChunk("vs", "f", 3, "epsilon")
	chunks := []rag.Chunk{again, add}
	replaced, err := r.PutChunks(ctx, chunks)
	if err != nil || !slices.Equal(replaced, []uint64{fc[1].Key}) {
		t.Fatalf("PutChunks replacing = %v, %v; want [%d]", replaced, err, fc[1].Key)
	}
	if chunks[0].Key <= gc[0].Key || chunks[0].Key == fc[1].Key || chunks[1].Key <= chunks[0].Key {
		t.Errorf("replacing chunk keys %d, %d; want new keys above %d", chunks[0].Key, chunks[1].Key, other[0].Key)
	}
	if got, _ := r.Chunks(ctx, []uint64{fc[1].Key, chunks[0].Key}); len(got) != 1 || got[chunks[0].Key].Text != "beta two" {
		t.Errorf("Chunks after replacement = %+v", got)
	}
	if vs := vectors(gc[0].Key); len(vs) != 2 || !slices.Equal(vs[chunks[0].Key], again.Vector) {
		t.Errorf("Vectors after replacement = %v", vs)
	}
	if hashes, _ := r.ChunkHashes(ctx, "vs", "f"); hashes[1] != "h-new" || len(hashes) != 4 {
		t.Errorf("ChunkHashes after replacement = %v", hashes)
	}

	// TrimChunks removes from index n on.
	trimmed, err := r.TrimChunks(ctx, "vs", "f", 2)
	if err != nil || !slices.Equal(sorted(trimmed), []uint64{fc[2].Key, chunks[1].Key}) {
		t.Errorf("TrimChunks = %v, %v; want [%d %d]", trimmed, err, fc[2].Key, chunks[1].Key)
	}
	if trimmed, err := r.TrimChunks(ctx, "vs", "f", 2); err != nil || len(trimmed) != 0 {
		t.Errorf("TrimChunks again = %v, %v", trimmed, err)
	}
	if hashes, _ := r.ChunkHashes(ctx, "vs", "f"); len(hashes) != 2 {
		t.Errorf("ChunkHashes after trim = %v", hashes)
	}
	if got, _ := r.Chunks(ctx, keysOf(other)); len(got) != 1 {
		t.Errorf("trimming vs/f touched vs2/f: %v", got)
	}
}

func testPutChunksConflict(t *testing.T, r rag.Repo) {
	ctx := t.Context()
	chunkStore(t, r)
	if _, err := r.SetStatus(ctx, "vs", "f", rag.Cancelled, nil); err != nil {
		t.Fatal(err)
	}
	_, err := r.PutChunks(ctx, []rag.Chunk{mkChunk("vs", "f", 0, "x")})
	wantErr(t, "PutChunks of a cancelled file", err, rag.ErrConflict)
	_, err = r.PutChunks(ctx, []rag.Chunk{mkChunk("vs", "nope", 0, "x")})
	if err == nil {
		t.Errorf("PutChunks of a file not attached succeeded")
	}
	if hashes, _ := r.ChunkHashes(ctx, "vs", "f"); len(hashes) != 0 {
		t.Errorf("a refused PutChunks stored %v", hashes)
	}
}

func testKeyword(t *testing.T, r rag.Repo) {
	ctx := t.Context()
	chunkStore(t, r)
	putStore(t, r, "acme", "vs2", 5)
	attach(t, r, "acme", "vs2", "f", 6)
	texts := []string{
		"The quick brown fox jumps over the lazy dog.",
		"Penguins live in Antarctica and eat krill.",
		"A penguin colony in Antarctica: thousands of penguins huddle against the cold.",
		"Quarterly revenue grew by twelve percent.",
		"Dogs and cats are common household pets.",
	}
	var chunks []rag.Chunk
	for i, s := range texts {
		chunks = append(chunks, mkChunk("vs", "f", i, s))
	}
	chunks = putChunks(t, r, chunks...)
	putChunks(t, r, mkChunk("vs2", "f", 0, "Penguins penguins penguins in Antarctica"))

	search := func(q string) ([]uint64, []float64) {
		t.Helper()
		var keys []uint64
		var scores []float64
		must(t, "Keyword "+q, r.Keyword(ctx, "vs", q, func(key uint64, score float64) bool {
			keys = append(keys, key)
			scores = append(scores, score)
			return true
		}))
		for i := 1; i < len(scores); i++ {
			if scores[i] > scores[i-1] {
				t.Errorf("Keyword(%q) scores not best first: %v", q, scores)
			}
		}
		return keys, scores
	}
	keys, _ := search("penguins antarctica")
	if len(keys) != 2 || !slices.Contains(keys, chunks[1].Key) || !slices.Contains(keys, chunks[2].Key) {
		t.Errorf("Keyword(penguins antarctica) = %v; want chunks 1 and 2 of this store only", keys)
	}
	// The words are ORed: a chunk with some of them matches, and one with
	// more of them ranks above.
	keys, _ = search("lazy revenue")
	if !slices.Equal(sorted(keys), sorted([]uint64{chunks[0].Key, chunks[3].Key})) {
		t.Errorf("Keyword(lazy revenue) = %v; want chunks 0 and 3", keys)
	}
	keys, _ = search("fox lazy revenue")
	if len(keys) != 2 || keys[0] != chunks[0].Key {
		t.Errorf("Keyword(fox lazy revenue) = %v; want chunk 0 first", keys)
	}
	// Words match their inflections (stemming).
	keys, _ = search("penguin")
	if len(keys) != 2 {
		t.Errorf("Keyword(penguin) = %v; want 2 chunks", keys)
	}
	keys, _ = search("cat")
	if !slices.Equal(keys, []uint64{chunks[4].Key}) {
		t.Errorf("Keyword(cat) = %v; want chunk 4", keys)
	}
	// Nothing in the client's text is read as query syntax.
	for _, q := range []string{`"unbalanced`, `NEAR(fox dog)`, `fox AND -dog | !cat & (`, `col:fox*`, `'`, `\`, `   `, ``, `the`, `%_`} {
		search(q)
	}
	keys, _ = search(`fox AND -dog`)
	if len(keys) == 0 || !slices.Contains(keys, chunks[0].Key) {
		t.Errorf("Keyword(fox AND -dog) = %v; want chunk 0 (operators are words)", keys)
	}
	if keys, _ := search("zebra"); len(keys) != 0 {
		t.Errorf("Keyword(zebra) = %v; want none", keys)
	}
	// fn returning false stops the search.
	n := 0
	must(t, "Keyword stopped", r.Keyword(ctx, "vs", "penguins dog revenue", func(uint64, float64) bool { n++; return false }))
	if n != 1 {
		t.Errorf("Keyword called fn %d times after it returned false; want 1", n)
	}
	// A removed chunk is no longer found.
	if _, err := r.TrimChunks(ctx, "vs", "f", 3); err != nil {
		t.Fatal(err)
	}
	if keys, _ := search("revenue"); len(keys) != 0 {
		t.Errorf("Keyword(revenue) after trim = %v; want none", keys)
	}
}

func testDetach(t *testing.T, r rag.Repo) {
	ctx := t.Context()
	chunkStore(t, r)
	fc := putChunks(t, r, mkChunk("vs", "f", 0, "one"), mkChunk("vs", "f", 1, "two"))
	gc := putChunks(t, r, mkChunk("vs", "g", 0, "three"))
	_, err := r.DetachFile(ctx, "globex", "vs", "f")
	wantErr(t, "DetachFile of another tenant", err, rag.ErrNotFound)
	_, err = r.DetachFile(ctx, "acme", "vs", "nope")
	wantErr(t, "DetachFile not attached", err, rag.ErrNotFound)
	keys, err := r.DetachFile(ctx, "acme", "vs", "f")
	if err != nil || !slices.Equal(sorted(keys), keysOf(fc)) {
		t.Fatalf("DetachFile = %v, %v; want %v", keys, err, keysOf(fc))
	}
	_, err = r.StoreFile(ctx, "acme", "vs", "f")
	wantErr(t, "StoreFile after DetachFile", err, rag.ErrNotFound)
	if got, _ := r.Chunks(ctx, append(keysOf(fc), gc[0].Key)); len(got) != 1 {
		t.Errorf("Chunks after DetachFile = %v; want g's only", got)
	}
	if _, err := r.File(ctx, "acme", "f"); err != nil {
		t.Errorf("DetachFile removed the file: %v", err)
	}
	_, err = r.PutChunks(ctx, []rag.Chunk{mkChunk("vs", "f", 0, "late")})
	if err == nil {
		t.Errorf("PutChunks of a detached file succeeded")
	}
	// It can be attached again.
	attach(t, r, "acme", "vs", "f", 9)
	if hashes, _ := r.ChunkHashes(ctx, "vs", "f"); len(hashes) != 0 {
		t.Errorf("re-attached file has chunks %v", hashes)
	}
}

func testDeleteFile(t *testing.T, r rag.Repo) {
	ctx := t.Context()
	chunkStore(t, r)
	putStore(t, r, "acme", "vs2", 5)
	attach(t, r, "acme", "vs2", "f", 6)
	fc := putChunks(t, r, mkChunk("vs", "f", 0, "one"), mkChunk("vs", "f", 1, "two"))
	f2 := putChunks(t, r, mkChunk("vs2", "f", 0, "one"))
	gc := putChunks(t, r, mkChunk("vs", "g", 0, "three"))
	removed, err := r.DeleteFile(ctx, "acme", "f")
	must(t, "DeleteFile", err)
	if len(removed) != 2 || !slices.Equal(sorted(removed["vs"]), keysOf(fc)) || !slices.Equal(removed["vs2"], keysOf(f2)) {
		t.Errorf("DeleteFile = %v; want vs: %v, vs2: %v", removed, keysOf(fc), keysOf(f2))
	}
	for _, s := range []string{"vs", "vs2"} {
		_, err := r.StoreFile(ctx, "acme", s, "f")
		wantErr(t, "StoreFile after DeleteFile", err, rag.ErrNotFound)
	}
	if got, _ := r.Chunks(ctx, append(append(keysOf(fc), f2[0].Key), gc[0].Key)); len(got) != 1 {
		t.Errorf("Chunks after DeleteFile = %v; want g's only", got)
	}
	if keys, _ := keywordKeys(t, r, "vs", "one two"); len(keys) != 0 {
		t.Errorf("Keyword finds deleted chunks %v", keys)
	}
	if st, _ := r.Store(ctx, "acme", "vs"); st.Counts != (rag.FileCounts{InProgress: 1}) {
		t.Errorf("Store counts after DeleteFile = %+v", st.Counts)
	}
}

func keywordKeys(t *testing.T, r rag.Repo, storeID, q string) ([]uint64, error) {
	var keys []uint64
	err := r.Keyword(t.Context(), storeID, q, func(key uint64, _ float64) bool { keys = append(keys, key); return true })
	return keys, err
}

func testDeleteStore(t *testing.T, r rag.Repo) {
	ctx := t.Context()
	chunkStore(t, r)
	must(t, "PutBatch", r.PutBatch(ctx, rag.Batch{ID: "b", StoreID: "vs", TenantID: "acme", CreatedAt: at(5)}, nil))
	fc := putChunks(t, r, mkChunk("vs", "f", 0, "one"), mkChunk("vs", "g", 0, "two"))
	must(t, "DeleteStore", r.DeleteStore(ctx, "acme", "vs"))
	if got, _ := r.Chunks(ctx, keysOf(fc)); len(got) != 0 {
		t.Errorf("Chunks after DeleteStore = %v", got)
	}
	n := 0
	must(t, "Vectors", r.Vectors(ctx, "vs", 0, func(uint64, string, []float32) error { n++; return nil }))
	must(t, "ChunkFiles", r.ChunkFiles(ctx, "vs", func(uint64, string) error { n++; return nil }))
	if n != 0 {
		t.Errorf("Vectors and ChunkFiles after DeleteStore saw %d chunks", n)
	}
	if p, _ := r.Pending(ctx); len(p) != 0 {
		t.Errorf("Pending after DeleteStore = %v", ids(p, sfID))
	}
	_, err := r.Batch(ctx, "acme", "vs", "b")
	wantErr(t, "Batch after DeleteStore", err, rag.ErrNotFound)
	if _, err := r.File(ctx, "acme", "f"); err != nil {
		t.Errorf("DeleteStore removed a file: %v", err)
	}
	if all, _ := r.AllStores(ctx); len(all) != 0 {
		t.Errorf("AllStores after DeleteStore = %v", ids(all, storeID))
	}
	// The id can be used again, empty.
	putStore(t, r, "acme", "vs", 9)
	if st, _ := r.Store(ctx, "acme", "vs"); st.Counts.Total() != 0 {
		t.Errorf("a new store with a deleted one's id has counts %+v", st.Counts)
	}
}

func staticChunking(max, overlap int) chunk.Strategy {
	return chunk.Strategy{Type: "static", Static: &chunk.Sizes{MaxChunkSizeTokens: max, ChunkOverlapTokens: overlap}}
}

// A key names one vector for good: after the newest chunks are removed,
// the next chunk stored, and a chunk replaced at its index, get keys
// above every key handed out before.
func testKeysNeverReused(t *testing.T, r rag.Repo) {
	ctx := t.Context()
	chunkStore(t, r)
	first := putChunks(t, r, mkChunk("vs", "f", 0, "alpha"), mkChunk("vs", "f", 1, "beta"))
	top := slices.Max(keysOf(first))
	if _, err := r.TrimChunks(ctx, "vs", "f", 1); err != nil {
		t.Fatal(err)
	}
	again := putChunks(t, r, mkChunk("vs", "f", 1, "beta again"))
	if again[0].Key <= top {
		t.Errorf("a chunk stored after the newest was removed got key %d, not above %d", again[0].Key, top)
	}
	top = again[0].Key
	repl := []rag.Chunk{mkChunk("vs", "f", 1, "beta, third version")}
	replaced, err := r.PutChunks(ctx, repl)
	must(t, "PutChunks", err)
	if len(replaced) != 1 || replaced[0] != top || repl[0].Key <= top {
		t.Errorf("replacing the newest chunk: replaced %v, new key %d; want [%d] and a key above it", replaced, repl[0].Key, top)
	}
}
