package postgres_test

import (
	"testing"

	"github.com/bulwark-ai/bulwark/responses"
	"github.com/bulwark-ai/bulwark/responses/responsestest"
)

func TestResponseStore(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	responsestest.Run(t, func(t *testing.T) responses.Store { return newDB(t) })
}
