package backup

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/leakcheck"
	"github.com/bulwark-ai/bulwark/sqlite"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/usage"
)

// TestMain fails the run when a goroutine of Bulwark's outlives the tests.
func TestMain(m *testing.M) { leakcheck.Main(m, "bulwark-ai/bulwark/") }

const spillName = "usage-spill-0000000000000001.jsonl"

// dataDir makes a data directory as a server leaves it: the database
// with a tenant and n usage records, an admin key, a usage log segment
// and its lock, and a saved vector index.
func dataDir(t *testing.T, n int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	db, err := sqlite.Open(t.Context(), filepath.Join(dir, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateTenant(t.Context(), tenant.Tenant{ID: "acme", Name: "Acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	appendUsage(t, db, 0, n)
	for name, content := range map[string]string{
		adminKeyFile:                           "sk-admin-secret\n",
		spillDir + "/" + spillName:             `{"id":"u-torn"` + "\n",
		spillDir + "/.lock":                    "",
		"vectors/vs_0123.idx":                  "a saved index",
		"bulwark.db-unrelated-file-not-copied": "x",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func appendUsage(t *testing.T, db *sqlite.DB, from, to int) {
	t.Helper()
	if err := appendRecords(db, from, to); err != nil {
		t.Fatal(err)
	}
}

func appendRecords(db *sqlite.DB, from, to int) error {
	var recs []usage.Record
	for i := from; i < to; i++ {
		recs = append(recs, usage.Record{ID: fmt.Sprintf("u-%06d", i), RequestID: fmt.Sprintf("req-%d", i),
			TenantID: "acme", Alias: "chat", Time: time.Now(), Status: "ok"})
	}
	return db.Append(context.Background(), recs)
}

func usageIDs(t *testing.T, path string) map[string]int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT id, count(*) FROM usage_records GROUP BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ids := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		ids[id] = n
	}
	return ids
}

func create(t *testing.T, data string) (string, *Manifest) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "backup.tar.gz")
	m, err := Create(t.Context(), Options{DataDir: data, Out: out, Version: "bulwark test"})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return out, m
}

// Create snapshots the database while another connection keeps writing,
// and the restored directory holds everything written before Create
// began, the admin key and the usage log — and no vector index.
func TestCreateWhileWritingThenRestore(t *testing.T) {
	data := dataDir(t, 100)
	db, err := sqlite.Open(t.Context(), filepath.Join(data, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 100; !stop.Load(); i += 10 {
			if err := appendRecords(db, i, i+10); err != nil {
				t.Error(err)
				return
			}
		}
	})
	out, m := create(t, data)
	stop.Store(true)
	wg.Wait()

	if m.Format != Format || m.FormatVersion != FormatVersion || m.Bulwark != "bulwark test" || m.Store != "sqlite" {
		t.Errorf("manifest %+v", m)
	}
	latest, _ := sqlite.LatestSchemaVersion()
	if m.SchemaVersion != latest || latest == 0 {
		t.Errorf("schema version %d, want %d", m.SchemaVersion, latest)
	}
	var paths []string
	for _, f := range m.Files {
		paths = append(paths, f.Path)
	}
	if got, want := strings.Join(paths, ","), "bulwark.db,admin.key,usage-spill/"+spillName; got != want {
		t.Errorf("archived %s, want %s", got, want)
	}
	if _, err := Verify(out); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	r, err := Restore(t.Context(), RestoreOptions{Archive: out, DataDir: restored})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if r.MovedAside != "" {
		t.Errorf("moved aside %q from a new directory", r.MovedAside)
	}
	ids := usageIDs(t, filepath.Join(restored, dbFile))
	for i := range 100 {
		if n := ids[fmt.Sprintf("u-%06d", i)]; n != 1 {
			t.Errorf("u-%06d restored %d times", i, n)
		}
	}
	for name, want := range map[string]string{adminKeyFile: "sk-admin-secret\n", spillDir + "/" + spillName: `{"id":"u-torn"` + "\n"} {
		if b, err := os.ReadFile(filepath.Join(restored, name)); err != nil || string(b) != want {
			t.Errorf("%s restored as %q, %v", name, b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(restored, "vectors")); !os.IsNotExist(err) {
		t.Errorf("vector indexes restored (%v): they are rebuilt from the database", err)
	}
	// The restored database opens and migrates like any other.
	rdb, err := sqlite.Open(t.Context(), filepath.Join(restored, dbFile))
	if err != nil {
		t.Fatalf("open the restored database: %v", err)
	}
	defer rdb.Close()
	if ts, err := rdb.Tenants(t.Context()); err != nil || len(ts) == 0 {
		t.Errorf("restored tenants %v, %v", ts, err)
	}
	assertNoStaging(t, filepath.Dir(restored))
}

// assertNoStaging fails if a staging directory was left in dir.
func assertNoStaging(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".restore-") || strings.HasPrefix(e.Name(), ".bulwark-backup-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// refused checks that restoring archive is refused as corrupt and leaves
// the target directory and its parent untouched.
func refused(t *testing.T, archive string) {
	t.Helper()
	if _, err := Verify(archive); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Verify: %v, want ErrCorrupt", err)
	}
	parent := t.TempDir()
	target := filepath.Join(parent, "data")
	_, err := Restore(context.Background(), RestoreOptions{Archive: archive, DataDir: target})
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("Restore: %v, want ErrCorrupt", err)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Errorf("a refused restore wrote %v", ents)
	}
}

func TestCorruptArchiveIsRefused(t *testing.T) {
	out, _ := create(t, dataDir(t, 50))
	good, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{0, 3, 12, len(good) / 3, len(good) / 2, len(good) - 20, len(good) - 5, len(good) - 1} {
		t.Run(fmt.Sprintf("byte %d", at), func(t *testing.T) {
			bad := bytes.Clone(good)
			bad[at] ^= 0x40
			p := filepath.Join(t.TempDir(), "bad.tar.gz")
			if err := os.WriteFile(p, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			refused(t, p)
		})
	}
}

func TestTruncatedArchiveIsRefused(t *testing.T) {
	out, _ := create(t, dataDir(t, 50))
	good, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 10, 100, len(good) / 2, len(good) - 8, len(good) - 1} {
		t.Run(fmt.Sprintf("%d of %d bytes", n, len(good)), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "short.tar.gz")
			if err := os.WriteFile(p, good[:n], 0o600); err != nil {
				t.Fatal(err)
			}
			refused(t, p)
		})
	}
}

// Archives whose compression is intact but whose manifest and entries
// disagree are refused too.
func TestTamperedArchiveIsRefused(t *testing.T) {
	out, m := create(t, dataDir(t, 5))
	stage := t.TempDir()
	if err := extract(out, stage, m); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		tamper func(m *Manifest)
		files  func(fs []File) []File // the entries written (default: all)
	}{
		"wrong checksum":   {tamper: func(m *Manifest) { m.Files[1].SHA256 = strings.Repeat("0", 64) }},
		"wrong size":       {tamper: func(m *Manifest) { m.Files[1].Size++ }},
		"bad checksum":     {tamper: func(m *Manifest) { m.Files[1].SHA256 = "xyz" }},
		"unsafe path":      {tamper: func(m *Manifest) { m.Files[1].Path = "../admin.key" }},
		"other format":     {tamper: func(m *Manifest) { m.Format = "tarball" }},
		"no database":      {tamper: func(m *Manifest) { m.Files = m.Files[1:] }},
		"listed twice":     {tamper: func(m *Manifest) { m.Files = append(m.Files, m.Files[1]) }},
		"entry missing":    {files: func(fs []File) []File { return fs[:2] }},
		"entry extra":      {files: func(fs []File) []File { return append(fs, fs[1]) }},
		"entry not listed": {tamper: func(m *Manifest) { m.Files = m.Files[:2] }},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			mm := *m
			mm.Files = append([]File(nil), m.Files...)
			files := append([]File(nil), m.Files...)
			if c.tamper != nil {
				c.tamper(&mm)
			}
			if c.files != nil {
				files = c.files(files)
			}
			p := filepath.Join(t.TempDir(), "tampered.tar.gz")
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := writeTar(f, &mm, files, stage); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			refused(t, p)
		})
	}
}

func TestRestoreRefusesANonEmptyDirectoryUnlessForced(t *testing.T) {
	out, _ := create(t, dataDir(t, 3))
	target := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(target, 0o700); err != nil {
		t.Fatal(err)
	}
	// An empty directory is fine.
	if _, err := Restore(t.Context(), RestoreOptions{Archive: out, DataDir: target}); err != nil {
		t.Fatalf("Restore into an empty directory: %v", err)
	}
	if err := os.WriteFile(filepath.Join(target, "marker"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Restore(t.Context(), RestoreOptions{Archive: out, DataDir: target})
	if !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("Restore over a non-empty directory: %v, want ErrNotEmpty", err)
	}
	if _, err := os.Stat(filepath.Join(target, "marker")); err != nil {
		t.Fatalf("a refused restore touched the directory: %v", err)
	}

	// A directory a running server holds is refused even when forced.
	lock, err := os.OpenFile(filepath.Join(target, spillDir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(t.Context(), RestoreOptions{Archive: out, DataDir: target, Force: true}); !errors.Is(err, ErrInUse) {
		t.Fatalf("forced Restore over a directory in use: %v, want ErrInUse", err)
	}
	_ = lock.Close()

	r, err := Restore(t.Context(), RestoreOptions{Archive: out, DataDir: target, Force: true})
	if err != nil {
		t.Fatalf("forced Restore: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(r.MovedAside, "marker")); err != nil || string(b) != "mine" {
		t.Errorf("the previous directory was not moved aside intact: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(target, "marker")); !os.IsNotExist(err) {
		t.Errorf("the restored directory holds the old one's files: %v", err)
	}
	if _, err := os.Stat(filepath.Join(target, dbFile)); err != nil {
		t.Errorf("no database restored: %v", err)
	}
}

func TestRestoreRefusesANewerSchema(t *testing.T) {
	data := dataDir(t, 1)
	out, m := create(t, data)
	_ = out
	stage := t.TempDir()
	if err := sqlite.Snapshot(t.Context(), filepath.Join(data, dbFile), filepath.Join(stage, dbFile)); err != nil {
		t.Fatal(err)
	}
	size, sum, _ := hashFile(filepath.Join(stage, dbFile))
	mm := *m
	mm.SchemaVersion += 1000
	mm.Files = []File{{Path: dbFile, Size: size, SHA256: sum}}
	p := filepath.Join(t.TempDir(), "newer.tar.gz")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeArchive(f, &mm, stage); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(p); err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Errorf("Verify of a newer schema: %v", err)
	}
}

func TestCreateNeedsADatabase(t *testing.T) {
	_, err := Create(t.Context(), Options{DataDir: t.TempDir(), Out: filepath.Join(t.TempDir(), "b.tar.gz")})
	if err == nil || !strings.Contains(err.Error(), "no Bulwark database") {
		t.Errorf("Create of an empty directory: %v", err)
	}
}

// Every byte of an archive is covered by a check: flipping any one of
// them (every 7th along the whole archive, and every byte of its
// first and last 64) is caught.
func TestEveryByteIsChecked(t *testing.T) {
	out, _ := create(t, dataDir(t, 20))
	good, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var at []int
	for i := range 64 {
		at = append(at, i, len(good)-1-i)
	}
	for i := 32; i < len(good)-32; i += 7 {
		at = append(at, i)
	}
	for _, i := range at {
		bad := bytes.Clone(good)
		bad[i] ^= 0x01
		if _, err := readArchive(bytes.NewReader(bad), nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("a bit flipped at byte %d of %d: %v, want ErrCorrupt", i, len(good), err)
		}
	}
}
