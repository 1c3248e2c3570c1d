//go:build unix

package backup

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// inUse reports whether a process holds dataDir: a running server holds
// an exclusive lock on its usage log directory (package usage) for as
// long as it lives.
func inUse(dataDir string) (bool, error) {
	f, err := os.Open(filepath.Join(dataDir, spillDir, ".lock"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return true, nil
		}
		return false, err
	}
	return false, syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
