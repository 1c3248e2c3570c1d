package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/bulwark-ai/bulwark/usage/budgettest"
)

func TestBudgetStore(t *testing.T) {
	budgettest.RunStore(t, func(t *testing.T) budgettest.Store {
		return open(t, filepath.Join(t.TempDir(), "bulwark.db"))
	})
}
