package usage_test

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/usage"
	"github.com/bulwark-ai/bulwark/usage/budgettest"
	"github.com/bulwark-ai/bulwark/usage/usagetest"
)

func TestMemoryBudgets(t *testing.T) {
	budgettest.Run(t, func(t *testing.T, cfg budgettest.Config) usage.Budgets {
		return usage.NewMemoryBudgets(usage.MemoryBudgetsOptions{Ledger: cfg.Ledger, Lease: cfg.Lease, Now: cfg.Now})
	})
}

func TestBudgetFallbackHealthy(t *testing.T) {
	budgettest.Run(t, func(t *testing.T, cfg budgettest.Config) usage.Budgets {
		shared := usage.NewMemoryBudgets(usage.MemoryBudgetsOptions{Ledger: cfg.Ledger, Lease: cfg.Lease, Now: cfg.Now})
		f := usage.NewBudgetFallback(shared, usage.BudgetFallbackOptions{})
		t.Cleanup(func() { f.Close() })
		return f
	})
}

func TestPeriods(t *testing.T) {
	at := time.Date(2030, 12, 31, 23, 59, 59, 0, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		p          usage.Period
		start, end time.Time
	}{
		{usage.PeriodDay, time.Date(2030, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)},
		{usage.PeriodMonth, time.Date(2030, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if s, e := tc.p.Start(at), tc.p.End(at); !s.Equal(tc.start) || !e.Equal(tc.end) {
			t.Errorf("%s of %v: %v to %v; want %v to %v", tc.p, at, s, e, tc.start, tc.end)
		}
	}
	if _, err := usage.ParsePeriod("week"); err == nil {
		t.Error("ParsePeriod(week) succeeded")
	}
}

// downBudgets is a shared backend that cannot be reached.
type downBudgets struct{ calls atomic.Int64 }

var errUnreachable = errors.New("unreachable")

func (d *downBudgets) Reserve(context.Context, []usage.Budget, usage.Nanodollars) (usage.BudgetReservation, usage.BudgetDecision, error) {
	d.calls.Add(1)
	return nil, usage.BudgetDecision{}, errUnreachable
}

func (d *downBudgets) Spending(context.Context, usage.Budget) (usage.Spending, error) {
	return usage.Spending{}, errUnreachable
}

func (d *downBudgets) Ping(context.Context) error { return errUnreachable }

// While the shared backend is unreachable, a replica serves from local
// counters seeded from the ledger and spends only its share of what is
// left.
func TestBudgetFallbackDegraded(t *testing.T) {
	ledger := usagetest.NewMemory()
	now := time.Now()
	if err := ledger.Append(t.Context(), []usage.Record{{ID: "r1", Time: now, TenantID: "acme", KeyID: "k1", Status: usage.StatusOK, Cost: 400}}); err != nil {
		t.Fatal(err)
	}
	var changes atomic.Int64
	shared := &downBudgets{}
	f := usage.NewBudgetFallback(shared, usage.BudgetFallbackOptions{
		Local:    usage.MemoryBudgetsOptions{Ledger: ledger, Share: 0.5},
		OnChange: func(bool, error) { changes.Add(1) },
	})
	defer f.Close()
	s := []usage.Budget{{Kind: usage.BudgetKey, ID: "k1", TenantID: "acme", Period: usage.PeriodDay, Amount: 1000, Hard: true}}
	accepted := 0
	for range 10 {
		r, d, err := f.Reserve(t.Context(), s, 100)
		if err != nil {
			t.Fatalf("Reserve while the shared backend is down: %v", err)
		}
		if d.Allowed {
			accepted++
			if err := r.Commit(t.Context(), 100); err != nil {
				t.Fatal(err)
			}
		}
	}
	// $400 spent of $1000: half of the $600 left is this replica's.
	if accepted != 3 {
		t.Errorf("%d accepted locally; want 3", accepted)
	}
	if !f.Degraded() || changes.Load() != 1 || shared.calls.Load() != 1 {
		t.Errorf("degraded %v after %d changes and %d shared calls; want degraded once, after one call", f.Degraded(), changes.Load(), shared.calls.Load())
	}
	if sp, err := f.Spending(t.Context(), s[0]); err != nil || sp.Spent != 700 {
		t.Errorf("Spending = %+v, %v; want the local 700", sp, err)
	}
}

// A ledger that cannot be read fails the reservation, fast after the
// first failure, and is read again later.
func TestMemoryBudgetsSeedFailure(t *testing.T) {
	clock := budgettest.NewClock()
	l := &failingLedger{Memory: usagetest.NewMemory()}
	l.down.Store(true)
	m := usage.NewMemoryBudgets(usage.MemoryBudgetsOptions{Ledger: l, Now: clock.Now, SeedRetry: 5 * time.Second})
	s := []usage.Budget{{Kind: usage.BudgetTenant, ID: "acme", TenantID: "acme", Period: usage.PeriodDay, Amount: 1000, Hard: true}}
	for range 3 {
		if _, _, err := m.Reserve(t.Context(), s, 1); !errors.Is(err, errUnreachable) {
			t.Fatalf("Reserve with the ledger down: %v", err)
		}
	}
	if n := l.queries.Load(); n != 1 {
		t.Errorf("%d ledger queries; want 1 until SeedRetry passes", n)
	}
	l.down.Store(false)
	clock.Advance(5 * time.Second)
	if _, d, err := m.Reserve(t.Context(), s, 1); err != nil || !d.Allowed {
		t.Errorf("after the ledger recovered: %+v, %v", d, err)
	}
}

type failingLedger struct {
	*usagetest.Memory
	down    atomic.Bool
	queries atomic.Int64
}

func (l *failingLedger) Query(ctx context.Context, f usage.Filter) ([]usage.Row, error) {
	l.queries.Add(1)
	if l.down.Load() {
		return nil, errUnreachable
	}
	return l.Memory.Query(ctx, f)
}

// toggled is a shared backend that can be cut off.
type toggled struct {
	usage.Budgets
	down atomic.Bool
}

func (s *toggled) Reserve(ctx context.Context, sc []usage.Budget, cost usage.Nanodollars) (usage.BudgetReservation, usage.BudgetDecision, error) {
	if s.down.Load() {
		return nil, usage.BudgetDecision{}, errUnreachable
	}
	return s.Budgets.Reserve(ctx, sc, cost)
}

func (s *toggled) Ping(context.Context) error {
	if s.down.Load() {
		return errUnreachable
	}
	return nil
}

// Each outage starts from the ledger again: what was spent through the
// shared backend between two outages is not forgotten by the second.
func TestBudgetFallbackReseedsEachOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ledger := usagetest.NewMemory()
		shared := &toggled{Budgets: usage.NewMemoryBudgets(usage.MemoryBudgetsOptions{Ledger: ledger})}
		f := usage.NewBudgetFallback(shared, usage.BudgetFallbackOptions{Local: usage.MemoryBudgetsOptions{Ledger: ledger}, ProbeMin: time.Second})
		defer f.Close()
		s := []usage.Budget{{Kind: usage.BudgetTenant, ID: "acme", TenantID: "acme", Period: usage.PeriodDay, Amount: 1000, Hard: true}}
		spend := func(id string, cost usage.Nanodollars) bool {
			r, d, err := f.Reserve(t.Context(), s, cost)
			if err != nil {
				t.Fatal(err)
			}
			if !d.Allowed {
				return false
			}
			if err := r.Commit(t.Context(), cost); err != nil {
				t.Fatal(err)
			}
			// The usage writer's part: the cost reaches the ledger.
			if err := ledger.Append(t.Context(), []usage.Record{{ID: id, Time: time.Now(), TenantID: "acme", Status: usage.StatusOK, Cost: cost}}); err != nil {
				t.Fatal(err)
			}
			return true
		}
		shared.down.Store(true)
		if !spend("r1", 100) || !f.Degraded() {
			t.Fatal("first outage: not served locally")
		}
		shared.down.Store(false)
		time.Sleep(time.Second)
		synctest.Wait()
		if f.Degraded() {
			t.Fatal("still degraded after the shared backend answered a probe")
		}
		if !spend("r2", 800) { // shared: seeded with r1, now 900
			t.Fatal("refused by the shared backend")
		}
		shared.down.Store(true)
		if spend("r3", 200) {
			t.Error("second outage admitted 200 over 900 spent of 1000: its local counters forgot the spending in between")
		}
	})
}

// A budget's share is computed in integers: no nanodollar is lost or
// gained to floating point, whatever the amount.
func TestShareOf(t *testing.T) {
	for _, c := range []struct {
		amount usage.Nanodollars
		share  float64
		want   usage.Nanodollars
	}{
		{600, 0.34, 204}, // 600*0.34 is 204.00000000000003 in floating point
		{600, 1.0 / 3, 200},
		{30, 0.1, 3},
		{7, 1.0 / 3, 3},
		{1, 1e-9, 1},
		{0, 0.5, 0},
		{600, 1, 600},
		{600, 0, 600},
		{math.MaxInt64, 1, math.MaxInt64},
		{math.MaxInt64, 0.5, math.MaxInt64/2 + 1},
		{9_007_199_254_740_993, 0.5, 4_503_599_627_370_497}, // 2^53+1: float64 loses the last unit
	} {
		if got := usage.ShareOf(c.amount, c.share); got != c.want {
			t.Errorf("ShareOf(%d, %v) = %d; want %d", c.amount, c.share, got, c.want)
		}
	}
}

// Probe finds the shared backend down before any request has: the
// BudgetFallback serves from local counters from then on.
func TestBudgetFallbackProbe(t *testing.T) {
	f := usage.NewBudgetFallback(&downBudgets{}, usage.BudgetFallbackOptions{Local: usage.MemoryBudgetsOptions{Ledger: usagetest.NewMemory()}})
	defer f.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := f.Probe(ctx); err == nil || f.Degraded() {
		t.Fatalf("canceled Probe = %v, degraded %v; want an error and no outage", err, f.Degraded())
	}
	if err := f.Probe(t.Context()); !errors.Is(err, errUnreachable) || !f.Degraded() {
		t.Errorf("Probe of an unreachable backend = %v, degraded %v; want its error and degraded", err, f.Degraded())
	}
}
