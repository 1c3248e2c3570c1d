package postgres_test

import (
	"errors"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/usage"
	"github.com/bulwark-ai/bulwark/usage/budgettest"
)

func TestBudgetStore(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	budgettest.RunStore(t, func(t *testing.T) budgettest.Store { return newDB(t) })
}

// Setting and removing a budget notifies key listeners on every replica,
// so that their key sets, which carry budgets, are reloaded.
func TestBudgetChangesNotify(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	url := newSchema(t)
	replicaA, replicaB := open(t, url), open(t, url)
	calls := listener(t, replicaB)
	waitCall(t, calls, "listening") // the call after connecting
	drain(calls)
	b := usage.Budget{Kind: usage.BudgetTenant, ID: "a", TenantID: "a", Period: usage.PeriodDay, Amount: 1, UpdatedAt: time.Now()}
	if err := replicaA.SetBudget(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	waitCall(t, calls, "SetBudget")
	if err := replicaA.DeleteBudget(t.Context(), b.Kind, b.ID); err != nil {
		t.Fatal(err)
	}
	waitCall(t, calls, "DeleteBudget")
	if err := replicaA.DeleteBudget(t.Context(), b.Kind, b.ID); !errors.Is(err, usage.ErrNoBudget) {
		t.Errorf("DeleteBudget of nothing = %v; want ErrNoBudget", err)
	}
}
