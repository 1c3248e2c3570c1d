package postgres_test

import (
	"errors"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/postgres"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/usage"
)

// Once the server cannot be reached, every read and write fails with
// tenant.ErrUnavailable, which the API answers with 503; an error the
// server answers with (here a tenant that exists) does not.
func TestUnreachableIsErrUnavailable(t *testing.T) {
	t.Parallel()
	dbURL, px := schemaBehindProxy(t)
	ctx := t.Context()
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateTenant(ctx, tenant.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateTenant(ctx, tenant.Tenant{ID: "acme"}); !errors.Is(err, tenant.ErrExists) || errors.Is(err, tenant.ErrUnavailable) {
		t.Errorf("CreateTenant of an existing tenant: %v; want ErrExists only", err)
	}

	px.Cut()
	calls := map[string]func() error{
		"Ping":    func() error { return db.Ping(ctx) },
		"Tenants": func() error { _, err := db.Tenants(ctx); return err },
		"Keys":    func() error { _, err := db.Keys(ctx, ""); return err },
		"Query":   func() error { _, err := db.Query(ctx, usage.Filter{}); return err },
		"Append": func() error {
			return db.Append(ctx, []usage.Record{{ID: "r1", Time: time.Now(), TenantID: "acme", Status: usage.StatusOK}})
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, tenant.ErrUnavailable) {
			t.Errorf("%s with the server cut: %v; want tenant.ErrUnavailable", name, err)
		}
	}
}
