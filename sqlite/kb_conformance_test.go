package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/rag/ragtest"
)

func TestKnowledgeRepo(t *testing.T) {
	ragtest.Run(t, func(t *testing.T) rag.Repo {
		return open(t, filepath.Join(t.TempDir(), "bulwark.db"))
	})
}
