package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-ai/bulwark/llm/local"
	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/rag/chunk"
	"github.com/bulwark-ai/bulwark/sqlite"
)

// TestMoveAKnowledgeBaseFromEmbeddedToScaled: a store exported from the
// embedded shape (SQLite) and imported into the scaled one (Postgres)
// holds the same files, attributes and chunks, answers searches the same,
// and embedded nothing again; an export that is not one is refused.
func TestMoveAKnowledgeBaseFromEmbeddedToScaled(t *testing.T) {
	requirePostgres(t)
	ctx := t.Context()
	lite, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lite.Close() })
	var mu sync.Mutex
	tally := map[string]int{}
	emb := tallyEmbedder{localEmbedder{local.New("local")}, &mu, tally}
	from := rag.NewService(lite, emb, rag.Options{EmbedModel: "local-embed"})
	if err := from.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(from.Close)
	st, err := from.CreateStore(ctx, "acme", "handbook", map[string]string{"team": "sre"}, nil, chunk.Strategy{})
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{
		"oncall.md": "# On call\n\nThe on-call engineer answers pages within five minutes and writes the incident log.",
		"deploy.md": "# Deploys\n\nDeploys happen on weekdays before 3 pm; a failed deploy is rolled back at once.",
		"fruit.txt": "Bananas are elongated, edible fruit; cooking bananas are called plantains.",
	}
	for name, text := range docs {
		f, err := from.CreateFile(ctx, "acme", name, "assistants", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := from.AttachFile(ctx, "acme", st.ID, f.ID, chunk.Strategy{}, map[string]any{"name": name}); err != nil {
			t.Fatal(err)
		}
	}
	waitCompleted(t, from, st, len(docs), 30e9)

	var export bytes.Buffer
	if err := from.Export(ctx, "acme", st.ID, &export); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(export.String(), "\n"); n != 1+len(docs) {
		t.Fatalf("export has %d lines; want a header and %d files", n, len(docs))
	}

	to := rag.NewService(newDB(t), emb, rag.Options{EmbedModel: "local-embed"})
	if err := to.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(to.Close)
	mu.Lock()
	before := len(tally)
	embedded := 0
	for _, n := range tally {
		embedded += n
	}
	mu.Unlock()
	moved, err := to.Import(ctx, "globex", "", bytes.NewReader(export.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	after := 0
	for _, n := range tally {
		after += n
	}
	mu.Unlock()
	if after != embedded || len(tally) != before {
		t.Errorf("the import embedded %d texts; want none", after-embedded)
	}
	if moved.Name != "handbook" || moved.Metadata["team"] != "sre" || moved.EmbedModel != "local-embed" || moved.Counts.Completed != len(docs) {
		t.Errorf("imported store %+v", moved)
	}
	for _, q := range []string{"who answers pages?", "when are deploys?", "what are plantains?"} {
		a, err := from.Search(ctx, "acme", st.ID, rag.Query{Text: q, Max: 3})
		if err != nil {
			t.Fatal(err)
		}
		b, err := to.Search(ctx, "globex", moved.ID, rag.Query{Text: q, Max: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Results) == 0 || len(a.Results) != len(b.Results) || a.Results[0].Filename != b.Results[0].Filename ||
			a.Results[0].Text != b.Results[0].Text || b.Results[0].Attributes["name"] != a.Results[0].Filename {
			t.Errorf("%q: before the move %+v; after %+v", q, a.Results, b.Results)
		}
	}
	// Another tenant's export is not found; garbage is not an export.
	if err := from.Export(ctx, "globex", st.ID, &bytes.Buffer{}); !errors.Is(err, rag.ErrNotFound) {
		t.Errorf("export of another tenant's store: %v", err)
	}
	for _, bad := range []string{"", "not json\n", `{"format":"other"}` + "\n", export.String() + "{broken\n"} {
		if _, err := to.Import(context.Background(), "globex", "x", strings.NewReader(bad)); !errors.Is(err, rag.ErrInvalid) {
			t.Errorf("import of %.30q: %v; want ErrInvalid", bad, err)
		}
	}
}
