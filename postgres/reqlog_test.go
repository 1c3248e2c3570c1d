package postgres_test

import (
	"testing"

	"github.com/bulwark-ai/bulwark/reqlog"
	"github.com/bulwark-ai/bulwark/reqlog/reqlogtest"
)

func TestRequestLogStore(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	reqlogtest.Run(t, func(t *testing.T) reqlog.Store { return newDB(t) })
}
