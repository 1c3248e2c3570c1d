package postgres_test

import (
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/tenant"
)

// A change of a tenant's or key's attributes on one replica reaches the key
// set of another, as a revocation does: the new alias mapping and priority
// are in force there once its listener has reloaded.
func TestAttributesPropagateToOtherReplicas(t *testing.T) {
	t.Parallel()
	url := newSchema(t)
	replicaA, replicaB := open(t, url), open(t, url)
	ctx := t.Context()
	if err := replicaA.CreateTenant(ctx, tenant.Tenant{ID: "a", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	k, secret := newKey(t, "a")
	if err := replicaA.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	kr := tenant.NewKeyring(replicaB)
	calls := listener(t, replicaB)
	waitCall(t, calls, "connecting")
	drain(calls)

	if err := replicaA.SetTenantAttributes(ctx, "a", tenant.Attributes{Aliases: map[string]string{"chat": "a-chat"}}); err != nil {
		t.Fatal(err)
	}
	waitCall(t, calls, "a change of tenant attributes")
	if err := replicaA.SetKeyAttributes(ctx, k.ID, tenant.Attributes{Priority: "batch"}); err != nil {
		t.Fatal(err)
	}
	waitCall(t, calls, "a change of key attributes")
	if err := kr.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := kr.Authenticate(secret)
	if err != nil || p.Alias("chat") != "a-chat" || p.Priority != "batch" {
		t.Errorf("Principal on replica B = %+v, %v; want chat → a-chat and priority batch", p, err)
	}
}
