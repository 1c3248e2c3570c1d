package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/postgres"
	"github.com/bulwark-ai/bulwark/prompt"
	"github.com/bulwark-ai/bulwark/prompt/prompttest"
	"github.com/bulwark-ai/bulwark/tenant"
)

func TestPromptStore(t *testing.T) {
	t.Parallel()
	prompttest.Run(t, func(t *testing.T, tenants ...string) prompt.Store {
		db := newDB(t)
		for _, id := range tenants {
			if err := db.CreateTenant(t.Context(), tenant.Tenant{ID: id, Name: id, CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		return db
	})
}

// A change made through one DB (another replica) reaches the cache of
// another through the notification, and a stored version cannot be
// changed even by SQL around the store's methods.
func TestPromptChangesPropagateAndVersionsAreImmutable(t *testing.T) {
	t.Parallel()
	url := newSchema(t)
	writer, reader := open(t, url), open(t, url)
	ctx := t.Context()
	if err := writer.CreateTenant(ctx, tenant.Tenant{ID: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	cache := prompt.NewCache(reader)
	calls := make(chan struct{}, 100)
	lctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		reader.ListenPrompts(lctx, func() {
			_ = cache.Reload(lctx)
			calls <- struct{}{}
		}, quiet)
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	waitCall(t, calls, "the listener's start")

	v := prompt.Version{TenantID: "acme", PromptID: "p", Template: prompt.Template{
		Messages: []prompt.Message{{Role: "system", Content: "Be brief."}}}, CreatedAt: time.Now()}
	if err := writer.CreatePrompt(ctx, prompt.Prompt{TenantID: "acme", ID: "p", CreatedAt: time.Now()}, v); err != nil {
		t.Fatal(err)
	}
	waitCall(t, calls, "CreatePrompt")
	if got, err := cache.Resolve("acme", prompt.Ref{ID: "p"}); err != nil || got.Number != 1 {
		t.Fatalf("Resolve after the notification = %v, %v", got, err)
	}
	if _, err := writer.AddPromptVersion(ctx, v); err != nil {
		t.Fatal(err)
	}
	waitCall(t, calls, "AddPromptVersion")
	drain(calls)
	if _, err := writer.SetPromptLabel(ctx, "acme", "p", "production", 1); err != nil {
		t.Fatal(err)
	}
	waitCall(t, calls, "SetPromptLabel")
	if got, err := cache.Resolve("acme", prompt.Ref{ID: "p"}); err != nil || got.Number != 1 {
		t.Errorf("Resolve(production) after the notification = %v, %v", got, err)
	}

	if err := postgres.ExecErr(t, writer, "UPDATE prompt_versions SET note = 'changed'"); err == nil {
		t.Error("UPDATE of a prompt version succeeded")
	}
}
