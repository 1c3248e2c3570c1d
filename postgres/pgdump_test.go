package postgres_test

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/postgres"
	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/usage"
)

// TestBackupWithPostgresTools: the scaled shape is backed up with
// Postgres's own tools, as README's runbook says: pg_dump of Bulwark's
// schema, the schema lost, pg_restore, and a Bulwark opened on it finds
// every tenant, key, usage record and knowledge-base chunk, its
// migrations applied.
func TestBackupWithPostgresTools(t *testing.T) {
	requirePostgres(t)
	pgDump, err1 := exec.LookPath("pg_dump")
	pgRestore, err2 := exec.LookPath("pg_restore")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pg_dump and pg_restore are required in CI: %v %v", err1, err2)
		}
		t.Skip("pg_dump or pg_restore not installed")
	}
	ctx := t.Context()
	dbURL := newSchema(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Skipf("needs a postgres:// URL: %v", err)
	}
	schema := u.Query().Get("search_path")
	db := open(t, dbURL)
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := db.CreateTenant(ctx, tenant.Tenant{ID: "acme", Name: "Acme", CreatedAt: now, Limits: tenant.Limits{RequestsPerMinute: 60}}); err != nil {
		t.Fatal(err)
	}
	key := tenant.Key{ID: "key_1", TenantID: "acme", Name: "app", Prefix: "bk-abc", Hash: strings.Repeat("ab", 32), CreatedAt: now}
	if err := db.CreateKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	var recs []usage.Record
	for i := range 25 {
		recs = append(recs, usage.Record{ID: usage.NewID(), Time: now, TenantID: "acme", KeyID: "key_1", Alias: "chat", Status: usage.StatusOK,
			PromptTokens: int64(10 + i), CompletionTokens: 5})
	}
	if err := db.Append(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := db.PutStore(ctx, rag.Store{ID: "vs_1", TenantID: "acme", Name: "docs", EmbedModel: "local-embed", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutFile(ctx, rag.File{ID: "file-1", TenantID: "acme", Filename: "a.txt", Purpose: "assistants", Bytes: 5, SHA256: "00", CreatedAt: now}, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := db.AttachFile(ctx, rag.StoreFile{StoreID: "vs_1", FileID: "file-1", TenantID: "acme", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutChunks(ctx, []rag.Chunk{{StoreID: "vs_1", FileID: "file-1", Text: "the lighthouse keeper", Hash: "h", Tokens: 3, Vector: []float32{1, 0}}}); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	// The runbook: dump, lose, restore.
	server := withoutParam(t, dbURL, "search_path")
	dump := filepath.Join(t.TempDir(), "bulwark.dump")
	run := func(name string, args ...string) {
		t.Helper()
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
		}
	}
	run(pgDump, "--format=custom", "--schema="+schema, "--file="+dump, server)
	adminExec(t, ctx, "DROP SCHEMA "+schema+" CASCADE")
	run(pgRestore, "--dbname="+server, "--exit-on-error", dump)

	db = open(t, dbURL)
	if got, err := db.Tenant(ctx, "acme"); err != nil || got.Name != "Acme" || got.Limits.RequestsPerMinute != 60 {
		t.Errorf("tenant after restore: %+v, %v", got, err)
	}
	if keys, err := db.Keys(ctx, "acme"); err != nil || len(keys) != 1 || keys[0].Hash != key.Hash {
		t.Errorf("keys after restore: %+v, %v", keys, err)
	}
	rows, err := db.Query(ctx, usage.Filter{Tenant: "acme", GroupBy: usage.GroupTenant})
	if err != nil || len(rows) != 1 || rows[0].Requests != 25 {
		t.Errorf("usage after restore: %+v, %v", rows, err)
	}
	var found []uint64
	if err := db.Keyword(ctx, "vs_1", "lighthouse", func(k uint64, _ float64) bool { found = append(found, k); return true }); err != nil || len(found) != 1 {
		t.Errorf("keyword search after restore: %v, %v", found, err)
	}
	if n := postgres.AppliedMigrations(t, db); n != postgres.KnownMigrations(t) {
		t.Errorf("%d migrations recorded after restore; want %d", n, postgres.KnownMigrations(t))
	}
}

func withoutParam(t *testing.T, raw, key string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del(key)
	u.RawQuery = q.Encode()
	return u.String()
}
