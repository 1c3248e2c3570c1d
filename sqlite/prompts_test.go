package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/prompt"
	"github.com/bulwark-ai/bulwark/prompt/prompttest"
	"github.com/bulwark-ai/bulwark/sqlite"
	"github.com/bulwark-ai/bulwark/tenant"
)

func TestPromptStore(t *testing.T) {
	prompttest.Run(t, func(t *testing.T, tenants ...string) prompt.Store {
		db := open(t, filepath.Join(t.TempDir(), "bulwark.db"))
		for _, id := range tenants {
			if err := db.CreateTenant(t.Context(), tenant.Tenant{ID: id, Name: id, CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		return db
	})
}

// A stored version cannot be changed, even by SQL that goes around the
// store's methods; and prompts are in the database's snapshot, the
// database part of a backup.
func TestPromptVersionsImmutableAndInSnapshot(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	db := open(t, filepath.Join(dir, "bulwark.db"))
	if err := db.CreateTenant(ctx, tenant.Tenant{ID: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	v := prompt.Version{TenantID: "acme", PromptID: "p", Template: prompt.Template{
		Messages: []prompt.Message{{Role: "system", Content: "Be brief."}}}, CreatedAt: time.Now()}
	if err := db.CreatePrompt(ctx, prompt.Prompt{TenantID: "acme", ID: "p", CreatedAt: time.Now()}, v); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.ExecForTest(ctx, db, "UPDATE prompt_versions SET note = 'changed'"); err == nil {
		t.Error("UPDATE of a prompt version succeeded")
	}
	snap := filepath.Join(dir, "snap.db")
	if err := sqlite.Snapshot(context.Background(), filepath.Join(dir, "bulwark.db"), snap); err != nil {
		t.Fatal(err)
	}
	restored := open(t, snap)
	if got, err := restored.PromptVersion(ctx, "acme", "p", 1); err != nil || got.Messages[0].Content != "Be brief." {
		t.Errorf("snapshot's prompt = %+v, %v", got, err)
	}
}
