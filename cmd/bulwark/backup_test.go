package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
