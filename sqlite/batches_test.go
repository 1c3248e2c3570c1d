package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/bulwark-ai/bulwark/batch"
	"github.com/bulwark-ai/bulwark/batch/batchtest"
)

func TestBatchStore(t *testing.T) {
	batchtest.Run(t, func(t *testing.T) batch.Store {
		return open(t, filepath.Join(t.TempDir(), "bulwark.db"))
	})
}
