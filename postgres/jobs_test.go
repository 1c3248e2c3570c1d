package postgres_test

import (
	"testing"

	"github.com/bulwark-ai/bulwark/job"
	"github.com/bulwark-ai/bulwark/job/jobtest"
	"github.com/bulwark-ai/bulwark/webhook"
	"github.com/bulwark-ai/bulwark/webhook/webhooktest"
)

// Replicas sharing jobs: jobtest's ReplicasShare runs three services
// over one database and counts each job's runs.
func TestJobStore(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	jobtest.Run(t, func(t *testing.T) job.Store { return newDB(t) })
}

func TestWebhookStore(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	webhooktest.Run(t, func(t *testing.T) webhook.Store { return newDB(t) })
}
