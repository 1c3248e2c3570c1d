package rag_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/rag/chunk"
)

var small = chunk.Strategy{Type: chunk.Structure, Structure: &chunk.Sizes{MaxChunkSizeTokens: 100, ChunkOverlapTokens: 0}}

func mustFilter(t *testing.T, s string) *rag.Filter {
	t.Helper()
	f, err := rag.ParseFilter([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// fileIDs are the files of a search's results.
func fileIDs(res rag.Results) []string {
	var out []string
	for _, r := range res.Results {
		if !slices.Contains(out, r.FileID) {
			out = append(out, r.FileID)
		}
	}
	slices.Sort(out)
	return out
}

// A store file's new attributes are what the next search filters by, in
// the vector and the keyword half, with the in-memory index and with a
// repo that searches itself.
func TestUpdateFileAttributes(t *testing.T) {
	for _, remote := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory", true: "remote"}[remote], func(t *testing.T) {
			ctx := context.Background()
			db := openDB(t, t.TempDir())
			e := newEmbedder()
			var s *rag.Service
			if remote {
				s = rag.NewService(&remoteRepo{DB: db}, e, rag.Options{EmbedModel: "local-embed", Retry: 10 * time.Millisecond})
				if err := s.Start(ctx); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(s.Close)
			} else {
				s = newService(t, db, e, rag.Options{})
			}
			f, _ := s.CreateFile(ctx, "acme", "guide.md", "assistants", []byte(guide))
			other, _ := s.CreateFile(ctx, "acme", "notes.txt", "assistants", []byte("Bananas ripen faster next to apples."))
			st, err := s.CreateStore(ctx, "acme", "docs", nil, nil, chunk.Strategy{})
			if err != nil {
				t.Fatal(err)
			}
			for id, team := range map[string]string{f.ID: "platform", other.ID: "data"} {
				if _, err := s.AttachFile(ctx, "acme", st.ID, id, small, map[string]any{"team": team}); err != nil {
					t.Fatal(err)
				}
				if sf := waitFile(t, s, "acme", st.ID, id); sf.Status != rag.Completed {
					t.Fatalf("%s: %+v", id, sf)
				}
			}
			ops := mustFilter(t, `{"type":"eq","key":"team","value":"ops"}`)
			search := func(f *rag.Filter, degraded bool) []string {
				t.Helper()
				res, err := s.Search(ctx, "acme", st.ID, rag.Query{Text: "banana fruit", Max: 10, Filter: f, AllowDegraded: degraded})
				if err != nil {
					t.Fatal(err)
				}
				if res.Degraded != degraded {
					t.Fatalf("degraded = %v; want %v", res.Degraded, degraded)
				}
				for _, r := range res.Results {
					if f != nil && !f.Match(r.Attributes) {
						t.Errorf("result of %s with attributes %v passed the filter", r.FileID, r.Attributes)
					}
				}
				return fileIDs(res)
			}
			if got := search(ops, false); len(got) != 0 {
				t.Fatalf("before the update the filter admits %v", got)
			}

			sf, err := s.UpdateFileAttributes(ctx, "acme", st.ID, f.ID, map[string]any{"team": "ops", "reviewed": true})
			if err != nil || sf.Attributes["team"] != "ops" || sf.Attributes["reviewed"] != true || sf.Status != rag.Completed || sf.Filename != "guide.md" {
				t.Fatalf("UpdateFileAttributes = %+v, %v", sf, err)
			}
			if got := search(ops, false); !slices.Equal(got, []string{f.ID}) {
				t.Errorf("after the update the filter admits %v; want the guide", got)
			}
			res, _ := s.Search(ctx, "acme", st.ID, rag.Query{Text: "banana fruit", Filter: ops})
			if len(res.Results) == 0 || res.Results[0].Attributes["team"] != "ops" {
				t.Errorf("results carry attributes %+v", res.Results)
			}
			// The keyword half alone (the embedding model down) filters
			// by them too.
			e.mu.Lock()
			e.fail = errors.New("embedding model down")
			e.mu.Unlock()
			if got := search(ops, true); !slices.Equal(got, []string{f.ID}) {
				t.Errorf("keyword search after the update admits %v; want the guide", got)
			}
			if got := search(mustFilter(t, `{"type":"eq","key":"team","value":"platform"}`), true); len(got) != 0 {
				t.Errorf("keyword search by the replaced attributes admits %v", got)
			}
			e.mu.Lock()
			e.fail = nil
			e.mu.Unlock()

			for _, c := range []struct {
				what                string
				tenant, store, file string
				attrs               map[string]any
				want                error
			}{
				{"another tenant's", "globex", st.ID, f.ID, nil, rag.ErrNotFound},
				{"not attached", "acme", st.ID, "file-nope", nil, rag.ErrNotFound},
				{"no store", "acme", "vs_nope", f.ID, nil, rag.ErrNotFound},
				{"a nested value", "acme", st.ID, f.ID, map[string]any{"a": map[string]any{}}, rag.ErrInvalid},
				{"a long key", "acme", st.ID, f.ID, map[string]any{strings.Repeat("k", 65): "v"}, rag.ErrInvalid},
			} {
				if _, err := s.UpdateFileAttributes(ctx, c.tenant, c.store, c.file, c.attrs); !errors.Is(err, c.want) {
					t.Errorf("%s: %v; want %v", c.what, err, c.want)
				}
			}
			// nil clears them.
			if sf, err := s.UpdateFileAttributes(ctx, "acme", st.ID, f.ID, nil); err != nil || len(sf.Attributes) != 0 {
				t.Errorf("clearing: %+v, %v", sf.Attributes, err)
			}
			if got := search(ops, false); len(got) != 0 {
				t.Errorf("after clearing the filter admits %v", got)
			}
		})
	}
}

// An update while the file is being ingested outlasts the ingestion,
// which copies the attributes it read when it began into the index.
func TestUpdateAttributesDuringIngestion(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	parsing, release := make(chan struct{}, 1), make(chan struct{})
	s := newService(t, db, newEmbedder(), rag.Options{Split: func(ctx context.Context, name string, content []byte, c chunk.Strategy) ([]rag.Piece, error) {
		parsing <- struct{}{}
		<-release
		return rag.Split(ctx, name, content, c)
	}})
	f, _ := s.CreateFile(ctx, "acme", "guide.md", "assistants", []byte(guide))
	st, err := s.CreateStore(ctx, "acme", "docs", nil, nil, chunk.Strategy{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AttachFile(ctx, "acme", st.ID, f.ID, small, map[string]any{"team": "platform"}); err != nil {
		t.Fatal(err)
	}
	<-parsing // the ingestion has read the file's attributes
	if _, err := s.UpdateFileAttributes(ctx, "acme", st.ID, f.ID, map[string]any{"team": "ops"}); err != nil {
		t.Fatal(err)
	}
	close(release)
	if sf := waitFile(t, s, "acme", st.ID, f.ID); sf.Status != rag.Completed || sf.Attributes["team"] != "ops" {
		t.Fatalf("file %+v", sf)
	}
	ops := mustFilter(t, `{"type":"eq","key":"team","value":"ops"}`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := s.Search(ctx, "acme", st.ID, rag.Query{Text: "banana", Filter: ops})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Results) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the index kept the attributes the ingestion began with")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A store file's content is its chunks' texts in order; another tenant's
// or a file not attached is not found.
func TestStoreFileChunks(t *testing.T) {
	ctx := context.Background()
	s := newService(t, openDB(t, t.TempDir()), newEmbedder(), rag.Options{})
	f, _ := s.CreateFile(ctx, "acme", "guide.md", "assistants", []byte(guide))
	st, _ := s.CreateStore(ctx, "acme", "docs", nil, nil, chunk.Strategy{})
	if _, err := s.AttachFile(ctx, "acme", st.ID, f.ID, small, nil); err != nil {
		t.Fatal(err)
	}
	waitFile(t, s, "acme", st.ID, f.ID)
	chunks, err := s.StoreFileChunks(ctx, "acme", st.ID, f.ID)
	if err != nil || len(chunks) < 3 {
		t.Fatalf("StoreFileChunks = %d chunks, %v; want the guide's sections", len(chunks), err)
	}
	for i, c := range chunks {
		if c.Index != i {
			t.Errorf("chunk %d has index %d", i, c.Index)
		}
	}
	if !strings.Contains(chunks[0].Text, "Databases") || !strings.Contains(chunks[len(chunks)-1].Text, "banana") {
		t.Errorf("chunks out of order: %q … %q", chunks[0].Text, chunks[len(chunks)-1].Text)
	}
	if _, err := s.StoreFileChunks(ctx, "globex", st.ID, f.ID); !errors.Is(err, rag.ErrNotFound) {
		t.Errorf("another tenant's: %v", err)
	}
	other, _ := s.CreateFile(ctx, "acme", "notes.txt", "assistants", []byte("x"))
	if _, err := s.StoreFileChunks(ctx, "acme", st.ID, other.ID); !errors.Is(err, rag.ErrNotFound) {
		t.Errorf("a file not attached: %v", err)
	}
}

// A batch of files each with its own attributes and strategy; bad
// entries are refused by their index, the whole batch with them.
func TestCreateBatchOf(t *testing.T) {
	ctx := context.Background()
	s := newService(t, openDB(t, t.TempDir()), newEmbedder(), rag.Options{})
	f, _ := s.CreateFile(ctx, "acme", "guide.md", "assistants", []byte(guide))
	other, _ := s.CreateFile(ctx, "acme", "notes.txt", "assistants", []byte("Bananas ripen faster next to apples."))
	st, _ := s.CreateStore(ctx, "acme", "docs", nil, nil, chunk.Strategy{})
	many := make([]rag.BatchFile, rag.MaxBatchFiles+1)
	for i := range many {
		many[i] = rag.BatchFile{FileID: fmt.Sprintf("file-%d", i)}
	}
	for _, c := range []struct {
		what  string
		files []rag.BatchFile
		want  string
	}{
		{"none", nil, "files: 1 to 2000"},
		{"too many", many, "files: 1 to 2000 files, got 2001"},
		{"no id", []rag.BatchFile{{FileID: f.ID}, {}}, "files[1].file_id"},
		{"twice", []rag.BatchFile{{FileID: f.ID}, {FileID: f.ID}}, "files[1].file_id: " + f.ID + " is in the batch twice"},
		{"bad attributes", []rag.BatchFile{{FileID: f.ID}, {FileID: other.ID, Attributes: map[string]any{"a": []any{}}}}, "files[1].attributes.a"},
		{"bad strategy", []rag.BatchFile{{FileID: f.ID, Chunking: chunk.Strategy{Type: "paragraphs"}}}, "files[0].chunking_strategy.type"},
	} {
		_, err := s.CreateBatchOf(ctx, "acme", st.ID, c.files)
		if !errors.Is(err, rag.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want invalid with %q", c.what, err, c.want)
		}
	}
	if _, err := s.CreateBatch(ctx, "acme", st.ID, []string{f.ID, f.ID}, chunk.Strategy{}, nil); !errors.Is(err, rag.ErrInvalid) {
		t.Errorf("file_ids naming a file twice: %v", err)
	}
	if sfs, _, _ := s.StoreFiles(ctx, "acme", st.ID, "", "", rag.Page{Limit: 10}); len(sfs) != 0 {
		t.Fatalf("refused batches attached %d files", len(sfs))
	}

	b, err := s.CreateBatchOf(ctx, "acme", st.ID, []rag.BatchFile{
		{FileID: f.ID, Chunking: small, Attributes: map[string]any{"team": "platform"}},
		{FileID: other.ID, Attributes: map[string]any{"team": "data", "year": 2026.0}},
	})
	if err != nil || b.Counts.Total() != 2 {
		t.Fatalf("CreateBatchOf = %+v, %v", b, err)
	}
	gf, go_ := waitFile(t, s, "acme", st.ID, f.ID), waitFile(t, s, "acme", st.ID, other.ID)
	if gf.Attributes["team"] != "platform" || gf.Chunking.Type != chunk.Structure || gf.BatchID != b.ID {
		t.Errorf("guide %+v", gf)
	}
	if go_.Attributes["team"] != "data" || go_.Attributes["year"] != 2026.0 || go_.Chunking.Type != chunk.Static {
		t.Errorf("notes %+v", go_)
	}
	res, err := s.Search(ctx, "acme", st.ID, rag.Query{Text: "banana", Filter: mustFilter(t, `{"type":"eq","key":"team","value":"data"}`)})
	if err != nil || !slices.Equal(fileIDs(res), []string{other.ID}) {
		t.Errorf("search by a file's own attributes = %v, %v", fileIDs(res), err)
	}
}
