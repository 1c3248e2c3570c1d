package app

import (
	"database/sql"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/backup"
	"github.com/bulwark-ai/bulwark/backup/s3test"
)

// waitForBackups polls target until at least n distinct archives have
// been seen in it (the schedule has run n times), then stops the server
// and returns every name seen.
func waitForBackups(t *testing.T, ts *testServer, target *backup.Target, n int) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for len(seen) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d scheduled backups in 30s, want %d", len(seen), n)
		}
		all, err := target.List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range all {
			seen[a.Name] = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return seen
}

// checkSchedule stops the server and checks what the schedule left in
// target: the newest keep archives, each restorable, and the metric of
// the last success at the newest.
func checkSchedule(t *testing.T, ts *testServer, target *backup.Target, s3 *backup.S3, seen map[string]bool, keep int) {
	t.Helper()
	// The server's last success, read before it stops (a backup may end
	// in between: the gauge may be one interval behind the newest).
	last := metricValue(t, ts, "bulwark_backup_last_success_timestamp_seconds")
	if failures := metricValue(t, ts, "bulwark_backup_failures_total"); failures != 0 {
		t.Errorf("bulwark_backup_failures_total = %v", failures)
	}
	ts.stop()
	left, err := target.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != keep {
		t.Fatalf("%d archives left, want %d (keep): %v", len(left), keep, left)
	}
	for name := range seen {
		if name > left[0].Name && !containsName(left, name) {
			t.Errorf("%s, newer than the oldest kept, was deleted", name)
		}
	}
	lastMS := int64(math.Round(last * 1000))
	if lastMS != left[len(left)-1].Created.UnixMilli() && (len(left) < 2 || lastMS != left[len(left)-2].Created.UnixMilli()) {
		t.Errorf("last success metric %v is not the time of a newest archive (%v)", last, left)
	}
	for _, a := range left {
		restored := filepath.Join(t.TempDir(), "data")
		if _, err := backup.Restore(t.Context(), backup.RestoreOptions{Archive: a.Location, S3: s3, DataDir: restored}); err != nil {
			t.Errorf("restore %s: %v", a.Name, err)
		}
	}
}

func containsName(as []backup.Archive, name string) bool {
	for _, a := range as {
		if a.Name == name {
			return true
		}
	}
	return false
}

func TestScheduledBackupsToADirectoryKeepTheNewest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "backups")
	ts := start(t, fastConfig+fmt.Sprintf("backup: {to: %q, interval: 1s, keep: 2}\n", dir))
	ts.do(t, "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`)
	target, err := backup.NewTarget(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := waitForBackups(t, ts, target, 4)
	checkSchedule(t, ts, target, nil, seen, 2)
}

func TestScheduledBackupsToS3KeepTheNewest(t *testing.T) {
	srv := s3test.Start(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	to := srv.URL("prod/")
	ts := start(t, fastConfig+fmt.Sprintf("backup: {to: %q, interval: 1s, keep: 1}\n", to))
	client, err := backup.NewS3(t.Context(), srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	target, err := backup.NewTarget(to, client)
	if err != nil {
		t.Fatal(err)
	}
	seen := waitForBackups(t, ts, target, 3)
	checkSchedule(t, ts, target, client, seen, 1)
}

// The first backup is due an interval after the newest archive already
// there, whose time the metric shows from the start; a failing backup
// is counted.
func TestScheduledBackupsResumeAndCountFailures(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "backups")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	made := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	if err := os.WriteFile(filepath.Join(dir, backup.ArchiveName(made)), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := start(t, fastConfig+fmt.Sprintf("backup: {to: %q, interval: 1h}\n", dir))
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, ts, "bulwark_backup_last_success_timestamp_seconds") == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := metricValue(t, ts, "bulwark_backup_last_success_timestamp_seconds"); int64(math.Round(got*1000)) != made.UnixMilli() {
		t.Errorf("last success = %v, want the existing archive's %v", got, float64(made.UnixMilli())/1000)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("a backup was made before its time: %v", ents)
	}

	// A target that is a file: every backup fails.
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := start(t, fastConfig+fmt.Sprintf("backup: {to: %q, interval: 1h}\n", file))
	for metricValue(t, bad, "bulwark_backup_failures_total") == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := metricValue(t, bad, "bulwark_backup_failures_total"); got != 1 {
		t.Errorf("bulwark_backup_failures_total = %v, want 1", got)
	}
	if got := metricValue(t, bad, "bulwark_backup_last_success_timestamp_seconds"); got != 0 {
		t.Errorf("last success = %v after only failures", got)
	}
}

// With backup.replicate, the database streams to object storage; a
// graceful stop ships the last usage records, flushed into the database
// as the server closes.
func TestReplicationShipsTheLastWritesOnStop(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "") // Litestream's S3 client cannot use it
	srv := s3test.Start(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	to := srv.URL("replica/")
	ts := start(t, fastConfig+fmt.Sprintf("backup: {replicate: %q, sync_interval: 100ms}\n", to))
	resp, body := ts.do(t, "POST", "/admin/v1/tenants", `{"id":"globex"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create tenant: %d %s", resp.StatusCode, body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for metricValue(t, ts, "bulwark_replication_last_sync_timestamp_seconds") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no replication sync in 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, body = ts.do(t, "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`, "X-Request-Id", "last-words")
	if resp.StatusCode != 200 {
		t.Fatalf("chat: %d %s", resp.StatusCode, body)
	}
	ts.stop()

	restored := filepath.Join(t.TempDir(), "standby")
	if _, err := backup.RestoreReplica(t.Context(), backup.RestoreReplicaOptions{From: to, S3: srv.Config, DataDir: restored}); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(restored, "bulwark.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tenants, records int
	if err := db.QueryRow(`SELECT count(*) FROM tenants WHERE id = 'globex'`).Scan(&tenants); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM usage_records WHERE request_id = 'last-words'`).Scan(&records); err != nil {
		t.Fatal(err)
	}
	if tenants != 1 || records != 1 {
		t.Errorf("the replica holds the tenant %d times and the last chat's usage record %d times, want 1 and 1", tenants, records)
	}
}
