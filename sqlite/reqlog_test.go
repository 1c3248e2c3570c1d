package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/bulwark-ai/bulwark/reqlog"
	"github.com/bulwark-ai/bulwark/reqlog/reqlogtest"
)

func TestRequestLogStore(t *testing.T) {
	reqlogtest.Run(t, func(t *testing.T) reqlog.Store {
		return open(t, filepath.Join(t.TempDir(), "bulwark.db"))
	})
}
