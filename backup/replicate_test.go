package backup_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/backup"
	"github.com/bulwark-ai/bulwark/backup/s3test"
	"github.com/bulwark-ai/bulwark/sqlite"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/usage"
)

func appendUsage(t *testing.T, db *sqlite.DB, from, to int) {
	t.Helper()
	var recs []usage.Record
	for i := from; i < to; i++ {
		recs = append(recs, usage.Record{ID: fmt.Sprintf("u-%06d", i), RequestID: fmt.Sprintf("req-%d", i),
			TenantID: "acme", Alias: "chat", Time: time.Now(), Status: "ok"})
	}
	if err := db.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

func usageCount(t *testing.T, dataDir string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "bulwark.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM usage_records").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A database a server writes to is replicated as it changes: what was
// synced is restored, into a new data directory or over a forced one.
func TestReplicateWhileWritingThenRestore(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "") // see errCABundle
	srv := s3test.Start(t)
	data := filepath.Join(t.TempDir(), "data")
	db, err := sqlite.Open(t.Context(), filepath.Join(data, "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateTenant(t.Context(), tenant.Tenant{ID: "acme", Name: "Acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	appendUsage(t, db, 0, 100)

	to := srv.URL("replica/prod/")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := backup.Replicate(t.Context(), backup.ReplicateOptions{DataDir: data, To: to, S3: srv.Config,
		SyncInterval: 50 * time.Millisecond, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = r.Close(context.Background())
		}
	}()
	for i := 1; i < 20; i++ {
		appendUsage(t, db, i*100, i*100+100)
	}
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r.LastSync().IsZero() {
		t.Error("LastSync is zero after a sync")
	}
	restored := filepath.Join(t.TempDir(), "restored")
	res, err := backup.RestoreReplica(t.Context(), backup.RestoreReplicaOptions{From: to, S3: srv.Config, DataDir: restored, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if n := usageCount(t, restored); n != 2000 {
		t.Errorf("restored %d usage records, want 2000", n)
	}
	latest, _ := sqlite.LatestSchemaVersion()
	if res.SchemaVersion != latest {
		t.Errorf("schema version %d, want %d", res.SchemaVersion, latest)
	}
	if _, err := os.Stat(filepath.Join(restored, "bulwark.db-txid")); !os.IsNotExist(err) {
		t.Errorf("Litestream's bookkeeping was left in the data directory: %v", err)
	}

	// More writes, shipped by the replicator on its own; Close ships the
	// rest.
	appendUsage(t, db, 2000, 2500)
	// LastSync says a sync ran, not what it found: one that ended a
	// second (twenty sync intervals) after the write has shipped it.
	written := time.Now()
	for deadline := written.Add(20 * time.Second); !r.LastSync().After(written.Add(time.Second)); {
		if time.Now().After(deadline) {
			t.Fatal("no sync in 20s after a write")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := backup.RestoreReplica(t.Context(), backup.RestoreReplicaOptions{From: to, S3: srv.Config, DataDir: restored, Log: quiet}); !errors.Is(err, backup.ErrNotEmpty) {
		t.Fatalf("restore over a data directory: %v, want ErrNotEmpty", err)
	}
	res, err = backup.RestoreReplica(t.Context(), backup.RestoreReplicaOptions{From: to, S3: srv.Config, DataDir: restored, Force: true, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if res.MovedAside == "" {
		t.Error("the forced restore moved nothing aside")
	}
	if n := usageCount(t, restored); n != 2500 {
		t.Errorf("restored %d usage records after the background sync, want 2500", n)
	}
	appendUsage(t, db, 2500, 2600)
	if err := r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	closed = true
	restored = filepath.Join(t.TempDir(), "after-close")
	if _, err = backup.RestoreReplica(t.Context(), backup.RestoreReplicaOptions{From: to, S3: srv.Config, DataDir: restored, Log: quiet}); err != nil {
		t.Fatal(err)
	}
	if n := usageCount(t, restored); n != 2600 {
		t.Errorf("restored %d usage records after Close, want 2600", n)
	}

	if _, err := backup.RestoreReplica(t.Context(), backup.RestoreReplicaOptions{From: srv.URL("nothing/"), S3: srv.Config, Log: quiet,
		DataDir: filepath.Join(t.TempDir(), "x")}); err == nil {
		t.Error("restore from an empty replica succeeded")
	}
}
