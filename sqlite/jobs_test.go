package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/bulwark-ai/bulwark/job"
	"github.com/bulwark-ai/bulwark/job/jobtest"
	"github.com/bulwark-ai/bulwark/webhook"
	"github.com/bulwark-ai/bulwark/webhook/webhooktest"
)

func TestJobStore(t *testing.T) {
	jobtest.Run(t, func(t *testing.T) job.Store {
		return open(t, filepath.Join(t.TempDir(), "bulwark.db"))
	})
}

func TestWebhookStore(t *testing.T) {
	webhooktest.Run(t, func(t *testing.T) webhook.Store {
		return open(t, filepath.Join(t.TempDir(), "bulwark.db"))
	})
}
