//go:build unix

package usage_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bulwark-ai/bulwark/usage"
)

// A log directory another process holds (its lock taken as that process
// takes it) is refused: two processes never write and replay one log.
func TestWriterRefusesADirectoryAnotherProcessHolds(t *testing.T) {
	dir := t.TempDir()
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if _, err := usage.NewWriter(newLedger(), usage.WriterOptions{Dir: dir, Logger: quiet}); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("NewWriter over a held directory: %v; want it refused", err)
	}
	_ = f.Close() // that process ends
	w := newWriter(t, newLedger(), usage.WriterOptions{Dir: dir})
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}
