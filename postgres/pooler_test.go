package postgres_test

import (
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/batch"
	"github.com/bulwark-ai/bulwark/batch/batchtest"
	"github.com/bulwark-ai/bulwark/drift"
	"github.com/bulwark-ai/bulwark/drift/drifttest"
	"github.com/bulwark-ai/bulwark/job"
	"github.com/bulwark-ai/bulwark/job/jobtest"
	"github.com/bulwark-ai/bulwark/postgres"
	"github.com/bulwark-ai/bulwark/prompt"
	"github.com/bulwark-ai/bulwark/prompt/prompttest"
	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/rag/ragtest"
	"github.com/bulwark-ai/bulwark/reqlog"
	"github.com/bulwark-ai/bulwark/reqlog/reqlogtest"
	"github.com/bulwark-ai/bulwark/responses"
	"github.com/bulwark-ai/bulwark/responses/responsestest"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/tenant/tenanttest"
	"github.com/bulwark-ai/bulwark/usage"
	"github.com/bulwark-ai/bulwark/usage/usagetest"
	"github.com/bulwark-ai/bulwark/webhook"
	"github.com/bulwark-ai/bulwark/webhook/webhooktest"
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
			t.Run("responses", func(t *testing.T) {
				responsestest.Run(t, func(t *testing.T) responses.Store { return db(t) })
			})
			t.Run("prompts", func(t *testing.T) {
				prompttest.Run(t, func(t *testing.T, tenants ...string) prompt.Store {
					d := db(t)
					for _, id := range tenants {
						if err := d.CreateTenant(t.Context(), tenant.Tenant{ID: id, Name: id, CreatedAt: time.Now()}); err != nil {
							t.Fatal(err)
						}
					}
					return d
				})
			})
			t.Run("batches", func(t *testing.T) {
				batchtest.Run(t, func(t *testing.T) batch.Store { return db(t) })
			})
			t.Run("request log", func(t *testing.T) {
				reqlogtest.Run(t, func(t *testing.T) reqlog.Store { return db(t) })
			})
			t.Run("drift", func(t *testing.T) {
				drifttest.Run(t, func(t *testing.T) drift.BaselineStore { return db(t) })
			})
			t.Run("jobs", func(t *testing.T) {
				jobtest.Run(t, func(t *testing.T) job.Store { return db(t) })
			})
			t.Run("webhooks", func(t *testing.T) {
				webhooktest.Run(t, func(t *testing.T) webhook.Store { return db(t) })
			})
		})
	}
}
