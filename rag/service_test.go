package rag_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/local"
	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/rag/chunk"
	"github.com/bulwark-ai/bulwark/sqlite"
)

// embedder embeds with the built-in local model, counting the texts it
// embeds; hold, when set, blocks each call until it is closed.
type embedder struct {
	model *local.Embedder
	texts atomic.Int64
	calls atomic.Int64
	mu    sync.Mutex
	hold  chan struct{}
	fail  error
}

func newEmbedder() *embedder { return &embedder{model: local.New("local")} }

func (e *embedder) Embed(ctx context.Context, tenantID, model, priority string, inputs []string) ([][]float32, error) {
	e.mu.Lock()
	hold, fail := e.hold, e.fail
	e.mu.Unlock()
	e.calls.Add(1)
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if fail != nil {
		return nil, fail
	}
	resp, err := e.model.Embed(ctx, &llm.EmbedRequest{Model: local.Model, Input: inputs})
	if err != nil {
		return nil, err
	}
	e.texts.Add(int64(len(inputs)))
	return resp.Vectors, nil
}

func openDB(t *testing.T, dir string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func newService(t *testing.T, db *sqlite.DB, e rag.Embedder, o rag.Options) *rag.Service {
	t.Helper()
	o.EmbedModel = "local-embed"
	o.Retry = 10 * time.Millisecond
	s := rag.NewService(db, e, o)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// waitFile waits until a store file leaves in_progress.
func waitFile(t *testing.T, s *rag.Service, tenant, store, file string) rag.StoreFile {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		sf, err := s.StoreFile(context.Background(), tenant, store, file)
		if err != nil {
			t.Fatal(err)
		}
		if sf.Status != rag.InProgress {
			return sf
		}
		if time.Now().After(deadline) {
			t.Fatalf("file %s still in progress", file)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// guide has three sections of about 60 tokens each: with chunks of at
// most 100 tokens, each is a chunk of its own.
const guide = `# Deployment guide

## Databases

Bulwark stores its state in SQLite in the embedded shape and in Postgres when scaled out. The data directory
holds the database file, its write-ahead log and the vector index; back it up as one unit, and restore it
to a stopped process only.

## Observability

Prometheus scrapes the metrics endpoint; traces go to an OpenTelemetry collector over gRPC or HTTP. Every
request carries an id that the access log, the request log and the trace share, so one slow answer can be
followed from the client to the upstream.

## Bananas

The banana is an elongated, edible fruit produced by several kinds of large herbaceous flowering plants in
the genus Musa. In some countries cooking bananas are called plantains, distinguishing them from dessert
bananas; the fruit is variable in size, colour and firmness.
`

func TestIngestAndSearch(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	s := newService(t, db, newEmbedder(), rag.Options{})
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
	if _, err := s.AttachFile(ctx, "acme", st.ID, f.ID, small, map[string]any{"team": "platform", "year": 2026.0}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AttachFile(ctx, "acme", st.ID, other.ID, chunk.Strategy{}, map[string]any{"team": "data"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{f.ID, other.ID} {
		if sf := waitFile(t, s, "acme", st.ID, id); sf.Status != rag.Completed || sf.UsageBytes == 0 {
			t.Fatalf("%s: %+v", id, sf)
		}
	}
	res, err := s.Search(ctx, "acme", st.ID, rag.Query{Text: "which fruit is a banana", Max: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results) == 0 || !strings.Contains(res.Results[0].Text, "banana") || res.Results[0].Section == "" || res.Results[0].Filename != "guide.md" {
		t.Fatalf("results %+v", res.Results)
	}
	if res.Results[0].Score <= 0 || res.Results[0].Score > 1 {
		t.Errorf("score %v outside (0, 1]", res.Results[0].Score)
	}
	// The filter applies inside the search: the best match of the other
	// team is found however far down the unfiltered ranking it is.
	filter, err := rag.ParseFilter([]byte(`{"type":"eq","key":"team","value":"data"}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err = s.Search(ctx, "acme", st.ID, rag.Query{Text: "which fruit is a banana", Max: 5, Filter: filter})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != 1 || res.Results[0].FileID != other.ID || res.Results[0].Attributes["team"] != "data" {
		t.Fatalf("filtered results %+v", res.Results)
	}
	// Another tenant sees neither the store nor the file.
	if _, err := s.Search(ctx, "globex", st.ID, rag.Query{Text: "banana"}); !errors.Is(err, rag.ErrNotFound) {
		t.Errorf("another tenant's search: %v", err)
	}
	if _, err := s.File(ctx, "globex", f.ID); !errors.Is(err, rag.ErrNotFound) {
		t.Errorf("another tenant's file: %v", err)
	}
	// Deleting the file removes its chunks from the search.
	if err := s.DeleteFile(ctx, "acme", f.ID); err != nil {
		t.Fatal(err)
	}
	res, err = s.Search(ctx, "acme", st.ID, rag.Query{Text: "banana fruit", Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Results {
		if r.FileID == f.ID {
			t.Fatalf("a deleted file's chunk was found: %+v", r)
		}
	}
}

// A file that cannot be parsed fails alone, with its reason; the batch's
// other files complete.
func TestBadFileFailsAlone(t *testing.T) {
	ctx := context.Background()
	s := newService(t, openDB(t, t.TempDir()), newEmbedder(), rag.Options{})
	good, _ := s.CreateFile(ctx, "acme", "good.md", "assistants", []byte(guide))
	empty, _ := s.CreateFile(ctx, "acme", "empty.txt", "assistants", []byte("   \n"))
	script, _ := s.CreateFile(ctx, "acme", "app.html", "assistants", []byte("<html><script>alert(1)</script></html>"))
	st, err := s.CreateStore(ctx, "acme", "docs", nil, nil, chunk.Strategy{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateBatch(ctx, "acme", st.ID, []string{good.ID, empty.ID, script.ID}, chunk.Strategy{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sf := waitFile(t, s, "acme", st.ID, good.ID); sf.Status != rag.Completed {
		t.Errorf("good file: %+v", sf)
	}
	for _, id := range []string{empty.ID, script.ID} {
		sf := waitFile(t, s, "acme", st.ID, id)
		if sf.Status != rag.Failed || sf.LastError == nil || sf.LastError.Code != "invalid_file" || sf.LastError.Message == "" {
			t.Errorf("%s: %+v %+v", id, sf, sf.LastError)
		}
	}
	b, err = s.Batch(ctx, "acme", st.ID, b.ID)
	if err != nil || b.Status != rag.Completed || b.Counts.Completed != 1 || b.Counts.Failed != 2 {
		t.Errorf("batch %+v %v", b, err)
	}
}

// Ingestion stopped part-way (the process closing) resumes at the next
// start with what was stored kept: every chunk is stored once and only the
// rest is embedded.
func TestIngestionResumes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	var doc strings.Builder
	for i := range 40 {
		fmt.Fprintf(&doc, "## Part %d\n\nThis is part %d of the manual, about subject number %d and nothing else.\n\n", i, i, i)
	}
	e := newEmbedder()
	s := rag.NewService(db, e, rag.Options{EmbedModel: "local-embed", BatchInputs: 4, Retry: time.Millisecond})
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f, _ := s.CreateFile(ctx, "acme", "manual.md", "assistants", []byte(doc.String()))
	st, _ := s.CreateStore(ctx, "acme", "docs", nil, nil, chunk.Strategy{})
	small := chunk.Strategy{Type: chunk.Structure, Structure: &chunk.Sizes{MaxChunkSizeTokens: 100, ChunkOverlapTokens: 0}}
	if _, err := s.AttachFile(ctx, "acme", st.ID, f.ID, small, nil); err != nil {
		t.Fatal(err)
	}
	// Let three batches through, then hold the fourth and stop.
	for e.texts.Load() < 12 {
		time.Sleep(time.Millisecond)
	}
	e.mu.Lock()
	e.hold = make(chan struct{})
	e.mu.Unlock()
	for e.calls.Load() < 4 {
		time.Sleep(time.Millisecond)
	}
	s.Close()
	embedded := e.texts.Load()
	if sf, _ := s.StoreFile(ctx, "acme", st.ID, f.ID); sf.Status != rag.InProgress {
		t.Fatalf("after the stop the file is %s, want in_progress", sf.Status)
	}

	e2 := newEmbedder()
	s2 := newService(t, db, e2, rag.Options{BatchInputs: 4})
	if sf := waitFile(t, s2, "acme", st.ID, f.ID); sf.Status != rag.Completed {
		t.Fatalf("resumed file: %+v", sf)
	}
	pieces, err := rag.Split(ctx, "manual.md", []byte(doc.String()), small)
	if err != nil {
		t.Fatal(err)
	}
	hashes, err := db.ChunkHashes(ctx, st.ID, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(hashes) != len(pieces) {
		t.Fatalf("%d chunks stored, want %d", len(hashes), len(pieces))
	}
	for i, p := range pieces {
		if hashes[i] != p.Hash {
			t.Errorf("chunk %d: stored hash %s, want %s", i, hashes[i], p.Hash)
		}
	}
	if got, want := e2.texts.Load(), int64(len(pieces))-embedded; got != want {
		t.Errorf("the restart embedded %d chunks, want the %d not stored before", got, want)
	}
}

// Uploading a changed version of a file embeds only the chunks that
// changed: the others' vectors are found by content hash.
func TestReingestEmbedsOnlyChanges(t *testing.T) {
	ctx := context.Background()
	e := newEmbedder()
	s := newService(t, openDB(t, t.TempDir()), e, rag.Options{})
	small := chunk.Strategy{Type: chunk.Structure, Structure: &chunk.Sizes{MaxChunkSizeTokens: 100, ChunkOverlapTokens: 0}}
	st, _ := s.CreateStore(ctx, "acme", "docs", nil, nil, chunk.Strategy{})
	v1, _ := s.CreateFile(ctx, "acme", "guide.md", "assistants", []byte(guide))
	if _, err := s.AttachFile(ctx, "acme", st.ID, v1.ID, small, nil); err != nil {
		t.Fatal(err)
	}
	waitFile(t, s, "acme", st.ID, v1.ID)
	if e.texts.Load() < 3 {
		t.Fatalf("the guide was embedded as %d chunks, want one per section", e.texts.Load())
	}
	before := e.texts.Load()
	changed := strings.Replace(guide, "elongated, edible fruit", "long yellow fruit", 1)
	v2, _ := s.CreateFile(ctx, "acme", "guide.md", "assistants", []byte(changed))
	if _, err := s.AttachFile(ctx, "acme", st.ID, v2.ID, small, nil); err != nil {
		t.Fatal(err)
	}
	waitFile(t, s, "acme", st.ID, v2.ID)
	if got := e.texts.Load() - before; got != 1 {
		t.Errorf("the changed file embedded %d chunks, want 1 (one section changed)", got)
	}
	// The old version goes; the new one is what the search finds.
	if err := s.DetachFile(ctx, "acme", st.ID, v1.ID); err != nil {
		t.Fatal(err)
	}
	res, err := s.Search(ctx, "acme", st.ID, rag.Query{Text: "long yellow fruit", Max: 10})
	if err != nil || len(res.Results) == 0 || res.Results[0].FileID != v2.ID {
		t.Fatalf("results %+v %v", res.Results, err)
	}
	for _, r := range res.Results {
		if r.FileID == v1.ID {
			t.Errorf("a detached file's chunk was found")
		}
	}
}

// A store's vector index is saved when the service closes and loaded at
// the next start, brought up to date with what the repo gained and lost
// meanwhile; a damaged file is rebuilt from the repo.
func TestSavedIndexIsBroughtUpToDate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	idxDir := filepath.Join(dir, "vectors")
	e := newEmbedder()
	s1 := rag.NewService(db, e, rag.Options{EmbedModel: "local-embed", IndexDir: idxDir})
	if err := s1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ := s1.CreateStore(ctx, "acme", "docs", nil, nil, chunk.Strategy{})
	a, _ := s1.CreateFile(ctx, "acme", "guide.md", "assistants", []byte(guide))
	b, _ := s1.CreateFile(ctx, "acme", "travel.txt", "assistants", []byte("Train travel is preferred for trips under four hours."))
	for _, f := range []rag.File{a, b} {
		if _, err := s1.AttachFile(ctx, "acme", st.ID, f.ID, chunk.Strategy{}, nil); err != nil {
			t.Fatal(err)
		}
		waitFile(t, s1, "acme", st.ID, f.ID)
	}
	s1.Close()
	if _, err := os.Stat(filepath.Join(idxDir, st.ID+".idx")); err != nil {
		t.Fatalf("no saved index: %v", err)
	}

	// While no service runs the index, the repo loses b and gains c (as
	// a run killed before it could save would leave it).
	if _, err := db.DeleteFile(ctx, "acme", b.ID); err != nil {
		t.Fatal(err)
	}
	c := rag.File{ID: "file-c", TenantID: "acme", Filename: "oncall.txt", Purpose: "assistants", CreatedAt: time.Now()}
	text := "The on-call engineer answers pages within five minutes."
	if err := db.PutFile(ctx, c, []byte(text)); err != nil {
		t.Fatal(err)
	}
	if err := db.AttachFile(ctx, rag.StoreFile{StoreID: st.ID, FileID: c.ID, TenantID: "acme", Chunking: chunk.Strategy{Type: chunk.Auto}, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	vecs, _ := e.Embed(ctx, "acme", "local-embed", "batch", []string{text})
	if _, err := db.PutChunks(ctx, []rag.Chunk{{StoreID: st.ID, FileID: c.ID, Text: text, Hash: "c0", Tokens: 10, Vector: vecs[0]}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetStatus(ctx, st.ID, c.ID, rag.Completed, nil); err != nil {
		t.Fatal(err)
	}

	check := func(s *rag.Service) {
		t.Helper()
		res, err := s.Search(ctx, "acme", st.ID, rag.Query{Text: "who answers pages", Max: 10})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range res.Results {
			seen[r.FileID] = true
		}
		if !seen[c.ID] || seen[b.ID] || !seen[a.ID] {
			t.Errorf("results by file %v: want %s and %s, not the deleted %s", seen, a.ID, c.ID, b.ID)
		}
	}
	s2 := rag.NewService(db, e, rag.Options{EmbedModel: "local-embed", IndexDir: idxDir})
	if err := s2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	check(s2)
	s2.Close()

	if err := os.WriteFile(filepath.Join(idxDir, st.ID+".idx"), []byte("not an index"), 0o600); err != nil {
		t.Fatal(err)
	}
	s3 := newService(t, db, e, rag.Options{IndexDir: idxDir})
	check(s3)
}
