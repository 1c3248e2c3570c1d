package ragtest

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/bulwark-ai/bulwark/rag"
)

// testUpdateAttributes: a store file's attributes are replaced, for its
// tenant only, and a repo that filters its own searches (VectorRepo)
// filters by the new ones at once.
func testUpdateAttributes(t *testing.T, r rag.Repo) {
	ctx := t.Context()
	chunkStore(t, r)
	putStore(t, r, "globex", "vg", 5)
	putFile(t, r, "globex", "gx", 6)
	attach(t, r, "globex", "vg", "gx", 7)
	before, err := r.StoreFile(ctx, "acme", "vs", "f")
	must(t, "StoreFile", err)

	attrs := map[string]any{"team": "search", "year": float64(2025), "public": true}
	got, err := r.UpdateAttributes(ctx, "acme", "vs", "f", attrs)
	must(t, "UpdateAttributes", err)
	if !maps.Equal(got.Attributes, attrs) || got.FileID != "f" || got.StoreID != "vs" || got.Filename != "f.txt" ||
		got.Status != before.Status || !reflect.DeepEqual(got.Chunking, before.Chunking) || !got.CreatedAt.Equal(before.CreatedAt) {
		t.Errorf("UpdateAttributes = %+v; want %+v with attributes %v", got, before, attrs)
	}
	if sf, err := r.StoreFile(ctx, "acme", "vs", "f"); err != nil || !maps.Equal(sf.Attributes, attrs) {
		t.Errorf("StoreFile after UpdateAttributes = %v, %v; want %v", sf.Attributes, err, attrs)
	}
	if sf, _ := r.StoreFile(ctx, "acme", "vs", "g"); len(sf.Attributes) != 0 {
		t.Errorf("another file's attributes changed: %v", sf.Attributes)
	}

	for _, c := range []struct{ what, tenant, store, file string }{
		{"of another tenant", "globex", "vs", "f"},
		{"of another tenant's store", "acme", "vg", "gx"},
		{"not attached", "acme", "vs", "gx"},
		{"of a missing store", "acme", "nope", "f"},
	} {
		_, err := r.UpdateAttributes(ctx, c.tenant, c.store, c.file, map[string]any{"x": "y"})
		wantErr(t, "UpdateAttributes "+c.what, err, rag.ErrNotFound)
	}
	if sf, _ := r.StoreFile(ctx, "globex", "vg", "gx"); len(sf.Attributes) != 0 {
		t.Errorf("another tenant's file's attributes changed: %v", sf.Attributes)
	}

	// The filtered searches of a VectorRepo read the new attributes.
	if vr, ok := r.(rag.VectorRepo); ok {
		c := putChunks(t, r, mkChunk("vs", "f", 0, "penguins in antarctica"))
		search := func(team string) []uint64 {
			t.Helper()
			f, err := rag.ParseFilter([]byte(`{"type":"eq","key":"team","value":"` + team + `"}`))
			must(t, "ParseFilter", err)
			keys, err := vr.SearchKeyword(ctx, "vs", "penguins", 10, f)
			must(t, "SearchKeyword", err)
			hits, err := vr.SearchVectors(ctx, "vs", vec(0), 10, f)
			must(t, "SearchVectors", err)
			for _, h := range hits {
				if !slices.Contains(keys, h.Key) {
					keys = append(keys, h.Key)
				}
			}
			return keys
		}
		if keys := search("search"); !slices.Equal(keys, keysOf(c)) {
			t.Errorf("search by the attributes set = %v; want %v", keys, keysOf(c))
		}
		_, err := r.UpdateAttributes(ctx, "acme", "vs", "f", map[string]any{"team": "infra"})
		must(t, "UpdateAttributes again", err)
		if keys := search("search"); len(keys) != 0 {
			t.Errorf("search by the replaced attributes = %v; want none", keys)
		}
		if keys := search("infra"); !slices.Equal(keys, keysOf(c)) {
			t.Errorf("search by the new attributes = %v; want %v", keys, keysOf(c))
		}
	}

	// nil clears them.
	got, err = r.UpdateAttributes(ctx, "acme", "vs", "f", nil)
	if err != nil || len(got.Attributes) != 0 {
		t.Errorf("UpdateAttributes(nil) = %v, %v; want none", got.Attributes, err)
	}
}

// testFileChunks: a file's chunks in a store, in index order, without
// another file's or store's.
func testFileChunks(t *testing.T, r rag.Repo) {
	ctx := t.Context()
	chunkStore(t, r)
	putStore(t, r, "acme", "vs2", 5)
	attach(t, r, "acme", "vs2", "f", 6)
	fc := putChunks(t, r, mkChunk("vs", "f", 2, "gamma"), mkChunk("vs", "f", 0, "alpha"), mkChunk("vs", "f", 1, "beta"))
	putChunks(t, r, mkChunk("vs", "g", 0, "delta"))
	putChunks(t, r, mkChunk("vs2", "f", 0, "other"))

	got, err := r.FileChunks(ctx, "vs", "f")
	must(t, "FileChunks", err)
	want := []rag.Chunk{fc[1], fc[2], fc[0]}
	if len(got) != len(want) {
		t.Fatalf("FileChunks = %d chunks; want %d", len(got), len(want))
	}
	for i, c := range got {
		w := want[i]
		w.Vector = nil
		if !reflect.DeepEqual(c, w) {
			t.Errorf("FileChunks[%d] = %+v; want %+v", i, c, w)
		}
	}
	if got, err := r.FileChunks(ctx, "vs2", "f"); err != nil || len(got) != 1 || got[0].Text != "other" {
		t.Errorf("FileChunks of the other store = %+v, %v", got, err)
	}
	if got, err := r.FileChunks(ctx, "vs", "nope"); err != nil || len(got) != 0 {
		t.Errorf("FileChunks of no chunks = %+v, %v", got, err)
	}
}

// testLargeBatch: a batch of 2000 files (OpenAI's most), each with its
// own attributes and strategy, is stored in one go.
func testLargeBatch(t *testing.T, r rag.Repo) {
	ctx := t.Context()
	putStore(t, r, "acme", "vs", 0)
	const n = rag.MaxBatchFiles
	files := make([]rag.StoreFile, n)
	for i := range n {
		id := fmt.Sprintf("f%04d", i)
		putFile(t, r, "acme", id, 1+i)
		files[i] = rag.StoreFile{StoreID: "vs", FileID: id, TenantID: "acme", Chunking: staticChunking(100+i%10, 0),
			Attributes: map[string]any{"n": float64(i), "even": i%2 == 0}, CreatedAt: at(n + 1)}
	}
	must(t, "PutBatch of 2000", r.PutBatch(ctx, rag.Batch{ID: "big", StoreID: "vs", TenantID: "acme", CreatedAt: at(n + 1)}, files))
	b, err := r.Batch(ctx, "acme", "vs", "big")
	if err != nil || b.Counts != (rag.FileCounts{InProgress: n}) {
		t.Fatalf("Batch = %+v, %v; want %d in progress", b, err, n)
	}
	for _, i := range []int{0, 1, 999, n - 1} {
		sf, err := r.StoreFile(ctx, "acme", "vs", files[i].FileID)
		if err != nil || sf.BatchID != "big" || !maps.Equal(sf.Attributes, files[i].Attributes) ||
			!reflect.DeepEqual(sf.Chunking, files[i].Chunking) {
			t.Errorf("StoreFile %s = %+v, %v; want its own attributes and strategy", files[i].FileID, sf, err)
		}
	}
}
