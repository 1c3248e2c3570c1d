package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/bulwark-ai/bulwark/responses"
	"github.com/bulwark-ai/bulwark/responses/responsestest"
)

func TestResponseStore(t *testing.T) {
	responsestest.Run(t, func(t *testing.T) responses.Store {
		return open(t, filepath.Join(t.TempDir(), "bulwark.db"))
	})
}
