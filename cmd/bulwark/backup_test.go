package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/backup/s3test"
	"github.com/bulwark-ai/bulwark/sqlite"
	"github.com/bulwark-ai/bulwark/tenant"
)

func TestBackupAndRestoreCommands(t *testing.T) {
	if code, _, _ := runCmd(t, "backup"); code != 2 {
		t.Errorf("backup without --out: code %d", code)
	}
	if code, _, _ := runCmd(t, "restore"); code != 2 {
		t.Errorf("restore without --archive: code %d", code)
	}
	dir := t.TempDir()
	if code, _, errOut := runCmd(t, "backup", "--data-dir", filepath.Join(dir, "none"), "--out", filepath.Join(dir, "b.tar.gz")); code != 1 || !strings.Contains(errOut, "no Bulwark database") {
		t.Errorf("backup of a directory without a database: code %d, %q", code, errOut)
	}
	bad := filepath.Join(dir, "bad.tar.gz")
	if err := os.WriteFile(bad, []byte("not an archive"), 0o600); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "data")
	code, _, errOut := runCmd(t, "restore", "--archive", bad, "--data-dir", target)
	if code != 1 || !strings.Contains(errOut, "backup archive is corrupt") {
		t.Errorf("restore of a damaged archive: code %d, %q", code, errOut)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Errorf("a refused restore created the data directory: %v", err)
	}
	if code, _, errOut := runCmd(t, "backup", "verify", bad); code != 1 || !strings.Contains(errOut, "corrupt") {
		t.Errorf("verify of a damaged archive: code %d, %q", code, errOut)
	}
}

// The commands take s3:// archives, the object storage named by the
// environment.
func TestBackupAndRestoreThroughS3(t *testing.T) {
	srv := s3test.Start(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	data := filepath.Join(t.TempDir(), "data")
	db, err := sqlite.Open(t.Context(), filepath.Join(data, "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateTenant(t.Context(), tenant.Tenant{ID: "acme", Name: "Acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	url := srv.URL("prod/manual.tar.gz")
	if code, out, errOut := runCmd(t, "backup", "--data-dir", data, "--out", url); code != 0 || !strings.Contains(out, "wrote "+url) {
		t.Fatalf("backup to S3: code %d, %q %q", code, out, errOut)
	}
	if code, out, errOut := runCmd(t, "backup", "verify", url); code != 0 || !strings.HasPrefix(out, "ok: "+url) {
		t.Fatalf("verify in S3: code %d, %q %q", code, out, errOut)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if code, out, errOut := runCmd(t, "restore", "--archive", url, "--data-dir", restored); code != 0 || !strings.Contains(out, "restored "+restored) {
		t.Fatalf("restore from S3: code %d, %q %q", code, out, errOut)
	}
	rdb, err := sqlite.Open(t.Context(), filepath.Join(restored, "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if _, err := rdb.Tenant(t.Context(), "acme"); err != nil {
		t.Errorf("restored database: %v", err)
	}
	missing := srv.URL("prod/none.tar.gz")
	if code, _, errOut := runCmd(t, "restore", "--archive", missing, "--data-dir", filepath.Join(t.TempDir(), "x")); code != 1 || !strings.Contains(errOut, "none.tar.gz") {
		t.Errorf("restore of a missing object: code %d, %q", code, errOut)
	}
	t.Setenv("BULWARK_S3_PATH_STYLE", "sometimes")
	if code, _, errOut := runCmd(t, "backup", "verify", url); code != 1 || !strings.Contains(errOut, "BULWARK_S3_PATH_STYLE") {
		t.Errorf("a bad BULWARK_S3_PATH_STYLE: code %d, %q", code, errOut)
	}
}

func TestRestoreReplicaFlags(t *testing.T) {
	for _, args := range [][]string{
		{"restore", "--archive", "a.tar.gz", "--replica", "s3://b/p/"},
		{"restore", "--archive", "a.tar.gz", "--at", "2026-12-07T03:00:00Z"},
		{"restore", "--replica", "s3://b/p/", "extra"},
	} {
		if code, _, _ := runCmd(t, args...); code != 2 {
			t.Errorf("%v: code %d, want 2 (usage)", args, code)
		}
	}
	if code, _, errOut := runCmd(t, "restore", "--replica", "s3://b/p/", "--at", "yesterday", "--data-dir", t.TempDir()); code != 1 || !strings.Contains(errOut, "RFC 3339") {
		t.Errorf("a bad --at: code %d, %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, "restore", "--replica", "/not/s3", "--data-dir", t.TempDir()); code != 1 || !strings.Contains(errOut, "s3://") {
		t.Errorf("a --replica that is not s3://: code %d, %q", code, errOut)
	}
}
