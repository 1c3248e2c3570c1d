package postgres_test

import (
	"testing"

	"github.com/bulwark-ai/bulwark/batch"
	"github.com/bulwark-ai/bulwark/batch/batchtest"
)

func TestBatchStore(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	batchtest.Run(t, func(t *testing.T) batch.Store { return newDB(t) })
}

func TestBatchReplicas(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	batchtest.RunReplicas(t, newDB(t))
}
