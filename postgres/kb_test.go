package postgres_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwark-ai/bulwark/postgres"
	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/rag/ragtest"
	"github.com/bulwark-ai/bulwark/vector"
)

// TestKnowledgeRepo runs the knowledge-base conformance suite on the
// Postgres at BULWARK_TEST_POSTGRES_URL, vectors as bytea.
func TestKnowledgeRepo(t *testing.T) {
	ragtest.Run(t, func(t *testing.T) rag.Repo { return newDB(t) })
}

// TestWithVectorsWithoutPgvector: a server without the extension keeps
// working with bytea vectors.
func TestWithVectorsWithoutPgvector(t *testing.T) {
	db := newDB(t)
	var available bool
	if err := db.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), testURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if err := conn.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')").Scan(&available); err != nil {
		t.Fatal(err)
	}
	if available {
		t.Skip("this server has pgvector")
	}
	if _, err := db.WithVectors(t.Context()); !errors.Is(err, postgres.ErrNoVectors) {
		t.Fatalf("WithVectors = %v; want ErrNoVectors", err)
	}
	if err := db.PutStore(t.Context(), rag.Store{ID: "vs", TenantID: "a", EmbedModel: "e"}); err != nil {
		t.Fatalf("PutStore after WithVectors failed: %v", err)
	}
}

// pglite is a Postgres with pgvector: PGlite run by node from
// test/pglite (npm ci there), one connection at a time.
type pglite struct {
	url     string
	schemas int
}

// requirePGlite starts a PGlite server for the test, stopped when it
// ends. It skips the test when node or the packages are missing, except
// in CI (CI=true), where that is a failure.
func requirePGlite(t *testing.T) *pglite {
	t.Helper()
	p, stop, err := startPGlite()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pglite (node with test/pglite's packages) is required in CI: %v", err)
		}
		t.Skipf("pglite unavailable (cd test/pglite && npm ci): %v", err)
	}
	t.Cleanup(stop)
	return p
}

func startPGlite() (*pglite, func(), error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, nil, err
	}
	dir, err := filepath.Abs(filepath.Join("..", "test", "pglite"))
	if err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@electric-sql", "pglite-pgvector")); err != nil {
		return nil, nil, fmt.Errorf("packages not installed: %w", err)
	}
	cmd := exec.Command(node, "server.mjs", "0")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	ready := make(chan int, 1)
	read := make(chan struct{})
	stop := func() {
		_ = stdin.Close() // the server exits when its stdin closes
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		<-read
	}
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				port, _ := strconv.Atoi(p)
				ready <- port
				_, _ = io.Copy(io.Discard, stdout)
				return
			}
		}
		ready <- 0
	}()
	var port int
	select {
	case port = <-ready:
		if port == 0 {
			err = errors.New("pglite exited before it was ready")
		}
	case <-time.After(90 * time.Second):
		err = errors.New("pglite did not start in 90s")
	}
	if err != nil {
		stop()
		return nil, nil, err
	}
	p := &pglite{url: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)}
	// The extension lives in public, which outlives the tests' schemas.
	if err := p.exec(context.Background(), "CREATE EXTENSION IF NOT EXISTS vector SCHEMA public"); err != nil {
		stop()
		return nil, nil, err
	}
	return p, stop, nil
}

func (p *pglite) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, p.url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// poolURL is p's URL for a pool of one connection. PGlite is one
// session whatever the connection, and it runs one protocol message at a
// time, whichever connection sent it: pgx must send each query as one
// message (the simple protocol), so that two connections' extended
// protocol messages do not interleave, and leave no prepared statements.
func (p *pglite) poolURL(t *testing.T) string {
	return withParam(t, withParam(t, p.url, "pool_max_conns", "1"), "default_query_exec_mode", "simple_protocol")
}

// newVectorDB opens a VectorDB on p in a fresh schema that is dropped
// when the test ends. PGlite ignores the startup message's settings: the
// search_path is set in the session.
func newVectorDB(t *testing.T, p *pglite) *postgres.VectorDB {
	t.Helper()
	p.schemas++
	schema := fmt.Sprintf("kb_test_%d", p.schemas)
	if err := p.exec(t.Context(), "CREATE SCHEMA "+schema+"; SET search_path TO "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.exec(ctx, "DROP SCHEMA "+schema+" CASCADE; SET search_path TO public"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	db := open(t, p.poolURL(t)) // closed before the schema is dropped
	v, err := db.WithVectors(t.Context())
	if err != nil {
		t.Fatalf("WithVectors: %v", err)
	}
	return v
}

// TestKnowledgeRepoPgvector runs the conformance suite on a Postgres
// with pgvector, the chunks' embeddings stored and indexed too.
func TestKnowledgeRepoPgvector(t *testing.T) {
	p := requirePGlite(t)
	ragtest.Run(t, func(t *testing.T) rag.Repo { return newVectorDB(t, p) })
}

func mustDo(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// vectorFixture is a store of acme whose file i has attributes attrs[i]
// and one chunk with vector vecs[i]; it returns the chunks' keys.
func vectorFixture(t *testing.T, r rag.Repo, storeID string, vecs [][]float32, attrs []map[string]any, texts []string) []uint64 {
	t.Helper()
	ctx := t.Context()
	mustDo(t, "PutStore", r.PutStore(ctx, rag.Store{ID: storeID, TenantID: "acme", EmbedModel: "e"}))
	var keys []uint64
	for i, v := range vecs {
		id := fmt.Sprintf("%s-f%d", storeID, i)
		mustDo(t, "PutFile", r.PutFile(ctx, rag.File{ID: id, TenantID: "acme", Filename: id}, []byte(id)))
		mustDo(t, "AttachFile", r.AttachFile(ctx, rag.StoreFile{StoreID: storeID, FileID: id, TenantID: "acme", Attributes: attrs[i]}))
		c := []rag.Chunk{{StoreID: storeID, FileID: id, Text: texts[i], Hash: id, Vector: v}}
		_, err := r.PutChunks(ctx, c)
		mustDo(t, "PutChunks", err)
		keys = append(keys, c[0].Key)
	}
	return keys
}

// TestVectorSearch checks SearchVectors and SearchKeyword on pgvector:
// nearest first with cosine similarities, the store only, a filter with
// Match's meaning inside the search, another dimension refused.
func TestVectorSearch(t *testing.T) {
	v := newVectorDB(t, requirePGlite(t))
	ctx := t.Context()
	const n = 24
	var vecs [][]float32
	var attrs []map[string]any
	var texts []string
	for i := range n {
		a := float64(i) * 0.25
		vecs = append(vecs, []float32{1, float32(a), float32(i % 3)})
		m := map[string]any{"n": float64(i), "team": []string{"red", "blue", "green"}[i%3]}
		if i%2 == 0 {
			m["draft"] = i%4 == 0
		}
		if i%5 == 0 {
			m["n"] = strconv.Itoa(i) // a number as a string: another type
		}
		attrs = append(attrs, m)
		texts = append(texts, fmt.Sprintf("penguin report %d", i))
	}
	keys := vectorFixture(t, v, "vs", vecs, attrs, texts)
	vectorFixture(t, v, "other", vecs[:3], attrs[:3], texts[:3])
	file := map[uint64]int{}
	for i, k := range keys {
		file[k] = i
	}

	q := []float32{1, 2, 0}
	hits, err := v.SearchVectors(ctx, "vs", q, 5, nil)
	if err != nil || len(hits) != 5 {
		t.Fatalf("SearchVectors = %v, %v; want 5 hits", hits, err)
	}
	// The exact ranking, from the vectors.
	want := slices.Clone(keys)
	cos := func(k uint64) float64 { return cosine(q, vecs[file[k]]) }
	slices.SortStableFunc(want, func(a, b uint64) int {
		switch ca, cb := cos(a), cos(b); {
		case ca > cb:
			return -1
		case ca < cb:
			return 1
		}
		return 0
	})
	for i, h := range hits {
		if _, ok := file[h.Key]; !ok {
			t.Fatalf("hit %d is not of the store", h.Key)
		}
		if d := float64(h.Score) - cos(h.Key); d > 1e-5 || d < -1e-5 {
			t.Errorf("hit %d score %v; want cosine %v", h.Key, h.Score, cos(h.Key))
		}
		if cos(h.Key) < cos(want[i])-1e-6 {
			t.Errorf("hit %d = %d (cos %v); want %d (cos %v)", i, h.Key, cos(h.Key), want[i], cos(want[i]))
		}
	}

	filters := []string{
		`{"type":"eq","key":"team","value":"red"}`,
		`{"type":"ne","key":"team","value":"red"}`,
		`{"type":"gt","key":"n","value":10}`,
		`{"type":"lte","key":"n","value":7}`,
		`{"type":"lt","key":"team","value":"green"}`,
		`{"type":"gte","key":"team","value":"green"}`,
		`{"type":"eq","key":"n","value":"5"}`,
		`{"type":"eq","key":"draft","value":true}`,
		`{"type":"ne","key":"draft","value":true}`,
		`{"type":"gt","key":"draft","value":true}`,
		`{"type":"gte","key":"draft","value":false}`,
		`{"type":"lt","key":"draft","value":false}`,
		`{"type":"lte","key":"draft","value":false}`,
		`{"type":"in","key":"team","value":["red","green",3]}`,
		`{"type":"nin","key":"n","value":[1,2,3,"10"]}`,
		`{"type":"in","key":"n","value":[]}`,
		`{"type":"eq","key":"missing","value":1}`,
		`{"type":"ne","key":"missing","value":1}`,
		`{"type":"and","filters":[{"type":"eq","key":"team","value":"blue"},{"type":"gte","key":"n","value":7}]}`,
		`{"type":"or","filters":[{"type":"eq","key":"team","value":"blue"},{"type":"eq","key":"draft","value":true}]}`,
		`{"type":"and","filters":[]}`,
		`{"type":"or","filters":[]}`,
		`{"type":"eq","key":"it's; DROP TABLE kb_chunks; --","value":"x'); --"}`,
	}
	for _, raw := range filters {
		f, err := rag.ParseFilter([]byte(raw))
		if err != nil {
			t.Fatalf("ParseFilter(%s): %v", raw, err)
		}
		var wantKeys []uint64
		for i, k := range keys {
			if f.Match(attrs[i]) {
				wantKeys = append(wantKeys, k)
			}
		}
		hits, err := v.SearchVectors(ctx, "vs", q, n, f)
		if err != nil {
			t.Fatalf("SearchVectors(%s): %v", raw, err)
		}
		var got []uint64
		for _, h := range hits {
			got = append(got, h.Key)
		}
		slices.Sort(got)
		if !slices.Equal(got, wantKeys) {
			t.Errorf("SearchVectors(%s) = %v; want %v", raw, got, wantKeys)
		}
		kw, err := v.SearchKeyword(ctx, "vs", "penguin reports", n, f)
		if err != nil {
			t.Fatalf("SearchKeyword(%s): %v", raw, err)
		}
		slices.Sort(kw)
		if !slices.Equal(kw, wantKeys) {
			t.Errorf("SearchKeyword(%s) = %v; want %v", raw, kw, wantKeys)
		}
	}
	if kw, err := v.SearchKeyword(ctx, "vs", "penguin", 3, nil); err != nil || len(kw) != 3 {
		t.Errorf("SearchKeyword(k=3) = %v, %v", kw, err)
	}

	// The search scans the HNSW index of its dimension, filtered or not.
	f, _ := rag.ParseFilter([]byte(`{"type":"eq","key":"team","value":"red"}`))
	for _, f := range []*rag.Filter{nil, f} {
		if plan := postgres.VectorPlan(t, v, "vs", q, 5, f); !strings.Contains(plan, "kb_chunks_embedding_3") {
			t.Errorf("the vector search does not use the HNSW index:\n%s", plan)
		}
	}

	if _, err := v.SearchVectors(ctx, "vs", []float32{1, 2}, 5, nil); !errors.Is(err, vector.ErrDimension) {
		t.Errorf("SearchVectors with another dimension = %v; want vector.ErrDimension", err)
	}
	if hits, err := v.SearchVectors(ctx, "empty", q, 5, nil); err != nil || len(hits) != 0 {
		t.Errorf("SearchVectors of an unknown store = %v, %v", hits, err)
	}
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / (math.Sqrt(na) * math.Sqrt(nb))
}
