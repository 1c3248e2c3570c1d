package postgres_test

import (
	"testing"

	"github.com/bulwark-ai/bulwark/postgres"
	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/rag/ragtest"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/tenant/tenanttest"
	"github.com/bulwark-ai/bulwark/usage"
	"github.com/bulwark-ai/bulwark/usage/usagetest"
)

// TestBehindAPooler runs the stores' conformance suites in the query modes
// a connection pooler in transaction mode (PgBouncer, RDS Proxy,
// Supavisor) needs: no prepared statements, so pgx cannot ask the server
// for parameter types and encodes each argument by its Go type alone.
func TestBehindAPooler(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	for _, mode := range []string{"exec", "simple_protocol"} {
		t.Run(mode, func(t *testing.T) {
			db := func(t *testing.T) *postgres.DB {
				return open(t, withParam(t, newSchema(t), "default_query_exec_mode", mode))
			}
			t.Run("tenants", func(t *testing.T) {
				tenanttest.Run(t, func(t *testing.T) tenant.Store { return db(t) })
			})
			t.Run("usage", func(t *testing.T) {
				usagetest.Run(t, func(t *testing.T) usage.Ledger { return db(t) })
			})
			t.Run("knowledge", func(t *testing.T) {
				ragtest.Run(t, func(t *testing.T) rag.Repo { return db(t) })
			})
		})
	}
}
