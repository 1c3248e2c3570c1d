package postgres_test

import (
	"testing"

	"github.com/bulwark-ai/bulwark/drift"
	"github.com/bulwark-ai/bulwark/drift/drifttest"
)

func TestDriftBaselineStore(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	drifttest.Run(t, func(t *testing.T) drift.BaselineStore { return newDB(t) })
}
