package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/local"
	"github.com/bulwark-ai/bulwark/postgres"
	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/rag/chunk"
)

// localEmbedder embeds with the built-in local model.
type localEmbedder struct{ model *local.Embedder }

func (e localEmbedder) Embed(ctx context.Context, tenantID, model, priority string, inputs []string) ([][]float32, error) {
	resp, err := e.model.Embed(ctx, &llm.EmbedRequest{Model: local.Model, Input: inputs})
	if err != nil {
		return nil, err
	}
	return resp.Vectors, nil
}

func startService(t *testing.T, repo rag.Repo) *rag.Service {
	t.Helper()
	s := rag.NewService(repo, localEmbedder{local.New("local")}, rag.Options{EmbedModel: "local-embed", Retry: 10 * time.Millisecond})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestReplicasShareOneIndex: two services (two replicas) on one Postgres
// with pgvector. What one ingests, the other finds at once, filters
// included, though it built its view of the store before: neither keeps
// a vector index of its own.
func TestReplicasShareOneIndex(t *testing.T) {
	p := requirePGlite(t)
	a := newVectorDB(t, p)
	db2 := open(t, p.poolURL(t))
	b, err := db2.WithVectors(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	one, two := startService(t, a), startService(t, b)

	st, err := one.CreateStore(ctx, "acme", "docs", nil, nil, chunk.Strategy{})
	if err != nil {
		t.Fatal(err)
	}
	// Replica two sees the empty store first.
	if res, err := two.Search(ctx, "acme", st.ID, rag.Query{Text: "bananas"}); err != nil || len(res.Results) != 0 {
		t.Fatalf("Search of the empty store = %+v, %v", res, err)
	}
	docs := map[string]string{
		"fruit.txt": "The banana is an elongated, edible fruit; cooking bananas are called plantains.",
		"db.txt":    "Postgres is a relational database with a write-ahead log and replication.",
	}
	team := map[string]string{"fruit.txt": "kitchen", "db.txt": "platform"}
	for name, text := range docs {
		f, err := one.CreateFile(ctx, "acme", name, "assistants", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := one.AttachFile(ctx, "acme", st.ID, f.ID, chunk.Strategy{}, map[string]any{"team": team[name]}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			sf, err := one.StoreFile(ctx, "acme", st.ID, f.ID)
			if err != nil {
				t.Fatal(err)
			}
			if sf.Status == rag.Completed {
				break
			}
			if sf.Status != rag.InProgress || time.Now().After(deadline) {
				t.Fatalf("file %s: %+v", name, sf)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	res, err := two.Search(ctx, "acme", st.ID, rag.Query{Text: "banana plantains", Max: 2})
	if err != nil || len(res.Results) == 0 || res.Results[0].Filename != "fruit.txt" ||
		res.Results[0].Attributes["team"] != "kitchen" || !strings.Contains(res.Results[0].Text, "plantains") {
		t.Fatalf("replica two's Search = %+v, %v; want fruit.txt first with its attributes", res, err)
	}
	f, err := rag.ParseFilter([]byte(`{"type":"eq","key":"team","value":"platform"}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err = two.Search(ctx, "acme", st.ID, rag.Query{Text: "banana plantains", Max: 5, Filter: f})
	if err != nil || len(res.Results) == 0 {
		t.Fatalf("filtered Search = %+v, %v", res, err)
	}
	for _, r := range res.Results {
		if r.Filename != "db.txt" {
			t.Errorf("filtered Search returned %s", r.Filename)
		}
	}
	if _, err := two.Search(ctx, "globex", st.ID, rag.Query{Text: "banana"}); err == nil {
		t.Errorf("another tenant's Search succeeded")
	}
	// A file deleted through replica one is gone from replica two's search.
	files, _, err := one.StoreFiles(ctx, "acme", st.ID, "", "", rag.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, sf := range files {
		if sf.Filename == "fruit.txt" {
			if err := one.DeleteFile(ctx, "acme", sf.FileID); err != nil {
				t.Fatal(err)
			}
		}
	}
	res, err = two.Search(ctx, "acme", st.ID, rag.Query{Text: "banana plantains", Max: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Results {
		if r.Filename == "fruit.txt" {
			t.Errorf("Search after DeleteFile returned %+v", r)
		}
	}
	// A store deleted through replica one is gone for replica two.
	if err := one.DeleteStore(ctx, "acme", st.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := two.Search(ctx, "acme", st.ID, rag.Query{Text: "postgres"}); !errors.Is(err, rag.ErrNotFound) {
		t.Errorf("Search of a store deleted by another replica = %v; want ErrNotFound", err)
	}
}

var _ rag.VectorRepo = (*postgres.VectorDB)(nil)
