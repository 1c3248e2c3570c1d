package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/bulwark-ai/bulwark/usage"
	"github.com/bulwark-ai/bulwark/usage/usagetest"
)

func TestUsageLedger(t *testing.T) {
	usagetest.Run(t, func(t *testing.T) usage.Ledger {
		return open(t, filepath.Join(t.TempDir(), "bulwark.db"))
	})
}
