package budgettest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/usage"
)

// Store is what a budget store provides: the methods the admin API and
// the key set use, implemented by the sqlite and postgres backends.
type Store interface {
	SetBudget(ctx context.Context, b usage.Budget) error
	Budget(ctx context.Context, kind, id string) (usage.Budget, error)
	Budgets(ctx context.Context) ([]usage.Budget, error)
	DeleteBudget(ctx context.Context, kind, id string) error
}

// RunStore runs the budget store suite against stores made by newStore,
// which is called once per subtest and must return an empty store.
func RunStore(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("RoundTrip", func(t *testing.T) { testStoreRoundTrip(t, newStore(t)) })
	t.Run("Invalid", func(t *testing.T) { testStoreInvalid(t, newStore(t)) })
}

func testStoreRoundTrip(t *testing.T, s Store) {
	ctx := context.Background()
	at := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)
	key := usage.Budget{Kind: usage.BudgetKey, ID: "key_1", TenantID: "acme", Period: usage.PeriodDay, Amount: 1_500_000_000, Hard: true, UpdatedAt: at}
	ten := usage.Budget{Kind: usage.BudgetTenant, ID: "acme", TenantID: "acme", Period: usage.PeriodMonth, Amount: usage.MaxBudget, UpdatedAt: at}
	for _, b := range []usage.Budget{key, ten} {
		if err := s.SetBudget(ctx, b); err != nil {
			t.Fatalf("SetBudget(%s): %v", b.Name(), err)
		}
	}
	if got, err := s.Budget(ctx, usage.BudgetKey, "key_1"); err != nil || !reflect.DeepEqual(got, key) {
		t.Errorf("Budget(key_1) = %+v, %v; want %+v", got, err, key)
	}
	// A key and a tenant may share an id; they are different scopes.
	if _, err := s.Budget(ctx, usage.BudgetKey, "acme"); !errors.Is(err, usage.ErrNoBudget) {
		t.Errorf("Budget(key acme) = %v; want ErrNoBudget", err)
	}
	// Setting again replaces.
	changed := key
	changed.Amount, changed.Hard, changed.Period, changed.UpdatedAt = 7, false, usage.PeriodMonth, at.Add(time.Hour)
	if err := s.SetBudget(ctx, changed); err != nil {
		t.Fatal(err)
	}
	all, err := s.Budgets(ctx)
	if err != nil || !reflect.DeepEqual(all, []usage.Budget{changed, ten}) {
		t.Errorf("Budgets = %+v, %v; want %+v", all, err, []usage.Budget{changed, ten})
	}
	if err := s.DeleteBudget(ctx, usage.BudgetKey, "key_1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBudget(ctx, usage.BudgetKey, "key_1"); !errors.Is(err, usage.ErrNoBudget) {
		t.Errorf("second DeleteBudget = %v; want ErrNoBudget", err)
	}
	if all, err := s.Budgets(ctx); err != nil || len(all) != 1 || all[0].Kind != usage.BudgetTenant {
		t.Errorf("after delete, Budgets = %+v, %v", all, err)
	}
}

func testStoreInvalid(t *testing.T, s Store) {
	ctx := context.Background()
	for _, b := range []usage.Budget{
		{Kind: "alias", ID: "x", Period: usage.PeriodDay},
		{Kind: usage.BudgetKey, ID: "x", Period: "week"},
		{Kind: usage.BudgetKey, ID: "x", Period: usage.PeriodDay, Amount: -1},
	} {
		if err := s.SetBudget(ctx, b); !errors.Is(err, usage.ErrInvalidBudget) {
			t.Errorf("SetBudget(%+v) = %v; want ErrInvalidBudget", b, err)
		}
	}
	if all, err := s.Budgets(ctx); err != nil || len(all) != 0 {
		t.Errorf("Budgets = %+v, %v; want none", all, err)
	}
}
