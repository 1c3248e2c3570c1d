package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/sqlite"
	"github.com/bulwark-ai/bulwark/usage"
	"github.com/bulwark-ai/bulwark/usage/usagetest"
)

func TestUsageLedger(t *testing.T) {
	usagetest.Run(t, func(t *testing.T) usage.Ledger {
		return open(t, filepath.Join(t.TempDir(), "bulwark.db"))
	})
}

// TestUsageCountedIsStored: a record whose usage Bulwark counted (a
// stream call that broke without reporting usage) says so in the ledger.
func TestUsageCountedIsStored(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "bulwark.db"))
	now := time.Now()
	if err := db.Append(t.Context(), []usage.Record{
		{ID: "counted", Time: now, TenantID: "acme", Status: "stream_broken", Stream: true, PromptTokens: 9, CompletionTokens: 40, UsageCounted: true},
		{ID: "reported", Time: now, TenantID: "acme", Status: usage.StatusOK, Stream: true, PromptTokens: 9, CompletionTokens: 60},
	}); err != nil {
		t.Fatal(err)
	}
	if !sqlite.UsageCounted(t, db, "counted") || sqlite.UsageCounted(t, db, "reported") {
		t.Error("usage_counted is not stored as the records say")
	}
}
