package rag_test

import (
	"cmp"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/rag/chunk"
	"github.com/bulwark-ai/bulwark/sqlite"
	"github.com/bulwark-ai/bulwark/vector"
)

// remoteRepo is a rag.VectorRepo over sqlite that searches by brute
// force, as a stand-in for one that indexes its vectors itself (the
// postgres backend's tests run the real one). Its stores are acme's.
type remoteRepo struct {
	*sqlite.DB
	vectorSearches, keywordSearches atomic.Int64
}

func (r *remoteRepo) attrs(ctx context.Context, storeID string) (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	files, _, err := r.StoreFiles(ctx, "acme", storeID, "", "", rag.Page{Limit: 1000})
	for _, f := range files {
		out[f.FileID] = f.Attributes
	}
	return out, err
}

func (r *remoteRepo) SearchVectors(ctx context.Context, storeID string, q []float32, k int, f *rag.Filter) ([]vector.Hit, error) {
	r.vectorSearches.Add(1)
	attrs, err := r.attrs(ctx, storeID)
	if err != nil {
		return nil, err
	}
	var hits []vector.Hit
	err = r.Vectors(ctx, storeID, 0, func(key uint64, fileID string, v []float32) error {
		if len(v) != len(q) {
			return vector.ErrDimension
		}
		if f.Match(attrs[fileID]) {
			hits = append(hits, vector.Hit{Key: key, Score: cosine(q, v)})
		}
		return nil
	})
	slices.SortFunc(hits, func(a, b vector.Hit) int { return cmp.Compare(b.Score, a.Score) })
	return hits[:min(k, len(hits))], err
}

func (r *remoteRepo) SearchKeyword(ctx context.Context, storeID, query string, k int, f *rag.Filter) ([]uint64, error) {
	r.keywordSearches.Add(1)
	attrs, err := r.attrs(ctx, storeID)
	if err != nil {
		return nil, err
	}
	var all []uint64
	if err := r.Keyword(ctx, storeID, query, func(key uint64, _ float64) bool { all = append(all, key); return true }); err != nil {
		return nil, err
	}
	chunks, err := r.Chunks(ctx, all)
	if err != nil {
		return nil, err
	}
	var keys []uint64
	for _, key := range all {
		if c, ok := chunks[key]; ok && f.Match(attrs[c.FileID]) && len(keys) < k {
			keys = append(keys, key)
		}
	}
	return keys, nil
}

func cosine(a, b []float32) float32 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return float32(dot / math.Sqrt(na*nb))
}

var _ rag.VectorRepo = (*remoteRepo)(nil)

// With a VectorRepo the service searches through it, filters included,
// and keeps no vector index of its own (none is saved at Close).
func TestVectorRepoSearches(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	repo := &remoteRepo{DB: openDB(t, dir)}
	indexDir := filepath.Join(dir, "vectors")
	s := rag.NewService(repo, newEmbedder(), rag.Options{EmbedModel: "local-embed", IndexDir: indexDir})
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	f, err := s.CreateFile(ctx, "acme", "guide.md", "assistants", []byte(guide))
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateFile(ctx, "acme", "notes.txt", "assistants", []byte("Postgres is a relational database with a write-ahead log."))
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.CreateStore(ctx, "acme", "docs", nil, nil, chunk.Strategy{})
	if err != nil {
		t.Fatal(err)
	}
	small := chunk.Strategy{Type: chunk.Structure, Structure: &chunk.Sizes{MaxChunkSizeTokens: 100, ChunkOverlapTokens: 0}}
	if _, err := s.AttachFile(ctx, "acme", st.ID, f.ID, small, map[string]any{"team": "platform"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AttachFile(ctx, "acme", st.ID, other.ID, chunk.Strategy{}, map[string]any{"team": "data"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{f.ID, other.ID} {
		if sf := waitFile(t, s, "acme", st.ID, id); sf.Status != rag.Completed {
			t.Fatalf("%s: %+v", id, sf)
		}
	}
	res, err := s.Search(ctx, "acme", st.ID, rag.Query{Text: "which fruit is a banana", Max: 3})
	if err != nil || len(res.Results) == 0 || !strings.Contains(res.Results[0].Text, "banana") ||
		res.Results[0].Filename != "guide.md" || res.Results[0].Attributes["team"] != "platform" {
		t.Fatalf("Search = %+v, %v", res.Results, err)
	}
	filter, err := rag.ParseFilter([]byte(`{"type":"eq","key":"team","value":"data"}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err = s.Search(ctx, "acme", st.ID, rag.Query{Text: "which fruit is a banana", Max: 5, Filter: filter})
	if err != nil || len(res.Results) != 1 || res.Results[0].FileID != other.ID || res.Results[0].Filename != "notes.txt" {
		t.Fatalf("filtered Search = %+v, %v", res.Results, err)
	}
	if repo.vectorSearches.Load() != 2 || repo.keywordSearches.Load() != 2 {
		t.Errorf("the repo ran %d vector and %d keyword searches; want 2 and 2", repo.vectorSearches.Load(), repo.keywordSearches.Load())
	}
	if _, err := s.Search(ctx, "globex", st.ID, rag.Query{Text: "banana"}); !errors.Is(err, rag.ErrNotFound) {
		t.Errorf("another tenant's Search: %v", err)
	}
	// A store deleted behind the service's back (by another replica) is
	// not found.
	if err := repo.DeleteStore(ctx, "acme", st.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Search(ctx, "acme", st.ID, rag.Query{Text: "banana"}); !errors.Is(err, rag.ErrNotFound) {
		t.Errorf("Search of a deleted store: %v", err)
	}
	s.Close()
	if entries, err := os.ReadDir(indexDir); err == nil && len(entries) > 0 {
		t.Errorf("the service saved vector indexes: %v", entries)
	}
}
