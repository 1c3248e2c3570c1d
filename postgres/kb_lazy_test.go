package postgres_test

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/faultproxy"
	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/tenant"
)

// TestVectorsSetUpOnceReachable: a replica that starts while Postgres is
// unreachable gets a VectorDB whose calls fail with ErrUnavailable (a
// 503 at the API) and which sets pgvector up at the first call once the
// server is back, without a restart.
func TestVectorsSetUpOnceReachable(t *testing.T) {
	p := requirePGlite(t)
	u, err := url.Parse(p.poolURL(t))
	if err != nil {
		t.Fatal(err)
	}
	px, err := faultproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	u.Host = px.Addr()
	q := u.Query()
	q.Set("connect_timeout", "1")
	u.RawQuery = q.Encode()
	px.Cut()

	ctx := t.Context()
	db := open(t, u.String())
	if _, err := db.WithVectors(ctx); !errors.Is(err, tenant.ErrUnavailable) {
		t.Fatalf("WithVectors with the server unreachable: %v; want ErrUnavailable", err)
	}
	v := db.LazyVectors()
	if _, err := v.SearchVectors(ctx, "vs", []float32{1, 0, 0}, 3, nil); !errors.Is(err, tenant.ErrUnavailable) {
		t.Fatalf("SearchVectors with the server unreachable: %v; want ErrUnavailable", err)
	}
	if _, err := v.PutChunks(ctx, []rag.Chunk{{StoreID: "vs", FileID: "f", Vector: []float32{1, 0, 0}}}); !errors.Is(err, tenant.ErrUnavailable) {
		t.Fatalf("PutChunks with the server unreachable: %v; want ErrUnavailable", err)
	}

	if err := px.Restore(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for db.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("Ping still fails 10s after the server came back: %v", db.Ping(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s once reachable: %v", what, err)
		}
	}
	now := time.Now().Truncate(time.Microsecond)
	must("PutStore", v.PutStore(ctx, rag.Store{ID: "vs", TenantID: "acme", Name: "docs", EmbedModel: "e", CreatedAt: now}))
	must("PutFile", v.PutFile(ctx, rag.File{ID: "f", TenantID: "acme", Filename: "f.txt", Purpose: "assistants", Bytes: 1, SHA256: "00", CreatedAt: now}, []byte("x")))
	must("AttachFile", v.AttachFile(ctx, rag.StoreFile{StoreID: "vs", FileID: "f", TenantID: "acme", CreatedAt: now}))
	_, err = v.PutChunks(ctx, []rag.Chunk{{StoreID: "vs", FileID: "f", Text: "lazy vectors", Hash: "h", Vector: []float32{1, 0, 0}}})
	must("PutChunks", err)
	hits, err := v.SearchVectors(ctx, "vs", []float32{1, 0, 0}, 3, nil)
	must("SearchVectors", err)
	if len(hits) != 1 || hits[0].Score < 0.99 {
		t.Fatalf("SearchVectors once reachable = %+v; want the one chunk", hits)
	}
}
