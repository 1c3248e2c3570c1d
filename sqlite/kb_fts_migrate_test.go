package sqlite

import (
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"modernc.org/sqlite"

	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/rag/chunk"
)

// A database whose chunks were indexed before the keyword index carried
// their store (migration 0020) finds them after the upgrade, each in its
// own store only, and keeps the index in step with later writes.
func TestKeywordIndexUpgrade(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bulwark.db")
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	connector, err := sqlite.NewConnector(dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	old := &DB{db: sql.OpenDB(connector)}
	ctx := t.Context()
	if _, err := old.db.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.version >= 20 {
			break
		}
		if _, err := old.db.ExecContext(ctx, m.sql); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if _, err := old.db.ExecContext(ctx, "INSERT INTO schema_migrations VALUES (?, ?, '')", m.version, m.name); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	put := func(db *DB, store string, texts ...string) {
		t.Helper()
		if _, err := db.Store(ctx, "t", store); err != nil {
			if err := db.PutStore(ctx, rag.Store{ID: store, TenantID: "t", Name: store, EmbedModel: "e", CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		file := store + "-" + texts[0][:4]
		if err := db.PutFile(ctx, rag.File{ID: file, TenantID: "t", Filename: file, Purpose: "assistants", Bytes: 1, SHA256: "00", CreatedAt: now}, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := db.AttachFile(ctx, rag.StoreFile{StoreID: store, FileID: file, TenantID: "t", Chunking: chunk.Strategy{Type: "auto"}, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		var cs []rag.Chunk
		for i, s := range texts {
			cs = append(cs, rag.Chunk{StoreID: store, FileID: file, Index: i, Text: s, Hash: s, Tokens: 3, Vector: []float32{1}})
		}
		if _, err := db.PutChunks(ctx, cs); err != nil {
			t.Fatal(err)
		}
	}
	put(old, "vs_a", "apples and pears", "pears alone")
	put(old, "vs_b", "apples of another tenant", "nothing here")
	if err := old.db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	put(db, "vs_a", "green apples, new since the upgrade")
	texts := func(store, q string) []string {
		t.Helper()
		var keys []uint64
		if err := db.Keyword(ctx, store, q, func(k uint64, _ float64) bool { keys = append(keys, k); return true }); err != nil {
			t.Fatal(err)
		}
		cs, err := db.Chunks(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range keys {
			if cs[k].StoreID != store {
				t.Errorf("search of %s returned a chunk of %s", store, cs[k].StoreID)
			}
			out = append(out, cs[k].Text)
		}
		slices.Sort(out)
		return out
	}
	if got, want := texts("vs_a", "apples"), []string{"apples and pears", "green apples, new since the upgrade"}; !slices.Equal(got, want) {
		t.Errorf("vs_a apples = %q; want %q", got, want)
	}
	if got, want := texts("vs_b", "apples"), []string{"apples of another tenant"}; !slices.Equal(got, want) {
		t.Errorf("vs_b apples = %q; want %q", got, want)
	}
	if _, err := db.DetachFile(ctx, "t", "vs_a", "vs_a-appl"); err != nil {
		t.Fatal(err)
	}
	if got, want := texts("vs_a", "pears apples"), []string{"green apples, new since the upgrade"}; !slices.Equal(got, want) {
		t.Errorf("after detaching, vs_a pears apples = %q; want %q", got, want)
	}
}
