//go:build unix

package usage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive lock on dir for this process (flock on a
// file in it), so that two processes pointed at one data directory — a
// shared volume, a copied config, a restart overlapping the old process —
// never write and replay one log. The lock goes with the process, however
// it ends; release gives it up before.
func lockDir(dir string) (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("usage writer: lock log directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("usage writer: log directory %s is in use by another process (one data directory per process)", dir)
		}
		return nil, fmt.Errorf("usage writer: lock log directory: %w", err)
	}
	return func() { _ = f.Close() }, nil
}
