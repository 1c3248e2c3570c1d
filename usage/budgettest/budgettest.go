package budgettest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/usage"
	"github.com/bulwark-ai/bulwark/usage/usagetest"
)

// Config is what a backend under test must be built with.
type Config struct {
	// Now is the clock the backend must read for periods and leases.
	Now func() time.Time
	// Lease is the reservation lease the backend must use.
	Lease time.Duration
	// Ledger is what the backend must seed periods from.
	Ledger usage.Ledger
}

// Lease is the lease the suite configures.
const Lease = 2 * time.Minute

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to 2030-01-02 03:04:05 UTC.
func NewClock() *Clock { return &Clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one subtest's backend, clock and ledger.
type env struct {
	b      usage.Budgets
	clock  *Clock
	ledger *usagetest.Memory
}

// Run runs the conformance suite against backends made by newBudgets,
// which is called once per subtest and must return a backend with no
// state that reads cfg.Now, uses cfg.Lease, seeds from cfg.Ledger and
// lives until the test ends.
func Run(t *testing.T, newBudgets func(t *testing.T, cfg Config) usage.Budgets) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e env)
	}{
		{"HardAtLimit", testHardAtLimit},
		{"ConcurrentExact", testConcurrentExact},
		{"CommitReconciles", testCommitReconciles},
		{"Cancel", testCancel},
		{"Idempotent", testIdempotent},
		{"AllOrNothing", testAllOrNothing},
		{"Rollover", testRollover},
		{"Month", testMonth},
		{"Soft", testSoft},
		{"SeededFromLedger", testSeeded},
		{"Lease", testLease},
		{"Spending", testSpending},
		{"Invalid", testInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClock()
			l := usagetest.NewMemory()
			b := newBudgets(t, Config{Now: c.Now, Lease: Lease, Ledger: l})
			tc.fn(t, env{b: b, clock: c, ledger: l})
		})
	}
}

// dollar is one US dollar.
const dollar usage.Nanodollars = 1e9

func keyBudget(id string, amount usage.Nanodollars, hard bool) usage.Budget {
	return usage.Budget{Kind: usage.BudgetKey, ID: id, TenantID: "acme", Period: usage.PeriodDay, Amount: amount, Hard: hard}
}

func tenantBudget(id string, amount usage.Nanodollars, hard bool) usage.Budget {
	return usage.Budget{Kind: usage.BudgetTenant, ID: id, TenantID: id, Period: usage.PeriodDay, Amount: amount, Hard: hard}
}

func reserve(t *testing.T, b usage.Budgets, scopes []usage.Budget, cost usage.Nanodollars) (usage.BudgetReservation, usage.BudgetDecision) {
	t.Helper()
	r, d, err := b.Reserve(context.Background(), scopes, cost)
	if err != nil {
		t.Fatalf("Reserve(%d): %v", cost, err)
	}
	if d.Allowed != (r != nil) {
		t.Fatalf("Reserve(%d): allowed %v with reservation %v", cost, d.Allowed, r)
	}
	return r, d
}

func spending(t *testing.T, b usage.Budgets, s usage.Budget) usage.Spending {
	t.Helper()
	sp, err := b.Spending(context.Background(), s)
	if err != nil {
		t.Fatalf("Spending(%s): %v", s.Name(), err)
	}
	return sp
}

func testHardAtLimit(t *testing.T, e env) {
	s := []usage.Budget{keyBudget("k1", dollar, true)}
	r1, d := reserve(t, e.b, s, 400_000_000)
	if !d.Allowed || d.Remaining != 600_000_000 {
		t.Fatalf("first: %+v; want allowed, $0.60 remaining", d)
	}
	if _, d = reserve(t, e.b, s, 600_000_000); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("second, exactly at the limit: %+v; want allowed, nothing remaining", d)
	}
	_, d = reserve(t, e.b, s, 1)
	if d.Allowed {
		t.Fatal("a nanodollar over a hard budget allowed")
	}
	now := e.clock.Now()
	wantWait := usage.PeriodDay.End(now).Sub(now)
	if d.RetryAfter != wantWait || d.Scope.ID != "k1" || d.Level.Reserved != dollar {
		t.Errorf("refusal: %+v; want retry after %v (the end of the day) from k1 with $1 reserved", d, wantWait)
	}
	err := d.Err()
	var be *usage.BudgetError
	if !errors.Is(err, usage.ErrBudgetExceeded) || !errors.As(err, &be) || be.RetryAfter != wantWait {
		t.Errorf("Err() = %v; want a *BudgetError", err)
	}
	// Committing less frees the difference.
	if err := r1.Commit(context.Background(), 300_000_000); err != nil {
		t.Fatal(err)
	}
	if _, d = reserve(t, e.b, s, 100_000_000); !d.Allowed {
		t.Errorf("after committing $0.30 of $0.40: %+v; want $0.10 allowed", d)
	}
}

// N goroutines reserve at once: the budget admits exactly what fits, and
// the committed total stays within it.
func testConcurrentExact(t *testing.T, e env) {
	const n, cost = 64, 30_000_000
	s := []usage.Budget{keyBudget("k1", 10*cost+cost/2, true), tenantBudget("acme", 100*dollar, true)}
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			r, d, err := e.b.Reserve(context.Background(), s, cost)
			if err != nil {
				t.Errorf("Reserve: %v", err)
				return
			}
			if !d.Allowed {
				if !errors.Is(d.Err(), usage.ErrBudgetExceeded) || d.Scope.ID != "k1" {
					t.Errorf("refused by %s: %v", d.Scope.Name(), d.Err())
				}
				return
			}
			accepted.Add(1)
			if err := r.Commit(context.Background(), cost); err != nil {
				t.Errorf("Commit: %v", err)
			}
		})
	}
	wg.Wait()
	if got := accepted.Load(); got != 10 {
		t.Errorf("%d of %d accepted; want 10", got, n)
	}
	if sp := spending(t, e.b, s[0]); sp.Spent != 10*cost || sp.Reserved != 0 {
		t.Errorf("key spending %+v; want %d spent, nothing reserved", sp, 10*cost)
	}
	if sp := spending(t, e.b, s[1]); sp.Spent != 10*cost {
		t.Errorf("tenant spending %+v; want %d spent", sp, 10*cost)
	}
}

func testCommitReconciles(t *testing.T, e env) {
	s := []usage.Budget{keyBudget("k1", dollar, true)}
	r, _ := reserve(t, e.b, s, 200_000_000)
	if err := r.Commit(context.Background(), 700_000_000); err != nil {
		t.Fatal(err)
	}
	if sp := spending(t, e.b, s[0]); sp.Spent != 700_000_000 || sp.Reserved != 0 {
		t.Errorf("after committing more than reserved: %+v; want $0.70 spent", sp)
	}
	if _, d := reserve(t, e.b, s, 300_000_001); d.Allowed {
		t.Error("reservation past the committed spending allowed")
	}
	if _, d := reserve(t, e.b, s, 300_000_000); !d.Allowed {
		t.Error("reservation up to the limit refused")
	}
}

func testCancel(t *testing.T, e env) {
	s := []usage.Budget{keyBudget("k1", dollar, true)}
	r, _ := reserve(t, e.b, s, dollar)
	if _, d := reserve(t, e.b, s, 1); d.Allowed {
		t.Fatal("reservation over a fully reserved budget allowed")
	}
	if err := r.Cancel(context.Background()); err != nil {
		t.Fatal(err)
	}
	if sp := spending(t, e.b, s[0]); sp.Spent != 0 || sp.Reserved != 0 {
		t.Errorf("after cancel: %+v; want nothing", sp)
	}
	if _, d := reserve(t, e.b, s, dollar); !d.Allowed {
		t.Error("cancel did not give the reservation back")
	}
}

func testIdempotent(t *testing.T, e env) {
	s := []usage.Budget{keyBudget("k1", dollar, true)}
	r, _ := reserve(t, e.b, s, 500_000_000)
	ctx := context.Background()
	for range 2 {
		if err := r.Commit(ctx, 100_000_000); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if sp := spending(t, e.b, s[0]); sp.Spent != 100_000_000 || sp.Reserved != 0 {
		t.Errorf("after commit, commit, cancel: %+v; want $0.10 spent once", sp)
	}
	r2, _ := reserve(t, e.b, s, 500_000_000)
	for range 2 {
		if err := r2.Cancel(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := r2.Commit(ctx, 500_000_000); err != nil {
		t.Fatal(err)
	}
	if sp := spending(t, e.b, s[0]); sp.Spent != 100_000_000 || sp.Reserved != 0 {
		t.Errorf("after cancel, cancel, commit: %+v; want nothing more", sp)
	}
	if err := r2.Commit(ctx, -1); !errors.Is(err, usage.ErrInvalidBudget) {
		t.Errorf("Commit(-1) = %v; want ErrInvalidBudget", err)
	}
}

func testAllOrNothing(t *testing.T, e env) {
	key := keyBudget("k1", 10*dollar, true)
	ten := tenantBudget("acme", dollar, true)
	reserve(t, e.b, []usage.Budget{ten}, 900_000_000)
	if _, d := reserve(t, e.b, []usage.Budget{key, ten}, 200_000_000); d.Allowed || d.Scope.Kind != usage.BudgetTenant {
		t.Fatalf("%+v; want refused by the tenant", d)
	}
	if sp := spending(t, e.b, key); sp.Reserved != 0 {
		t.Errorf("the key holds %d after the tenant refused; want nothing", sp.Reserved)
	}
}

func testRollover(t *testing.T, e env) {
	s := []usage.Budget{keyBudget("k1", dollar, true)}
	r, _ := reserve(t, e.b, s, dollar)
	if err := r.Commit(context.Background(), dollar); err != nil {
		t.Fatal(err)
	}
	_, d := reserve(t, e.b, s, 1)
	if d.Allowed {
		t.Fatal("spent budget allowed more")
	}
	e.clock.Advance(d.RetryAfter)
	if _, d := reserve(t, e.b, s, dollar); !d.Allowed {
		t.Errorf("the next day: %+v; want the budget back", d)
	}
	if sp := spending(t, e.b, s[0]); sp.Spent != 0 || !sp.PeriodStart.Equal(usage.PeriodDay.Start(e.clock.Now())) {
		t.Errorf("the next day: %+v", sp)
	}
}

func testMonth(t *testing.T, e env) {
	b := keyBudget("k1", dollar, true)
	b.Period = usage.PeriodMonth
	s := []usage.Budget{b}
	r, _ := reserve(t, e.b, s, dollar)
	if err := r.Commit(context.Background(), dollar); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(24 * time.Hour) // the next day, same month
	_, d := reserve(t, e.b, s, 1)
	if d.Allowed {
		t.Fatal("a month budget reset after a day")
	}
	if want := time.Date(2030, 2, 1, 0, 0, 0, 0, time.UTC).Sub(e.clock.Now()); d.RetryAfter != want {
		t.Errorf("RetryAfter %v; want %v (until February)", d.RetryAfter, want)
	}
	e.clock.Advance(d.RetryAfter)
	if _, d := reserve(t, e.b, s, dollar); !d.Allowed {
		t.Error("a month budget did not reset with the month")
	}
}

func testSoft(t *testing.T, e env) {
	s := []usage.Budget{keyBudget("k1", dollar, false)}
	_, d := reserve(t, e.b, s, 800_000_000)
	if !d.Allowed || len(d.Over) != 0 || len(d.Warn) != 0 {
		t.Fatalf("within a soft budget: %+v", d)
	}
	_, d = reserve(t, e.b, s, 300_000_000)
	if !d.Allowed || len(d.Over) != 1 || len(d.Warn) != 1 || d.Remaining != 0 {
		t.Fatalf("over a soft budget: %+v; want served, over, warned once, nothing remaining", d)
	}
	_, d = reserve(t, e.b, s, 300_000_000)
	if !d.Allowed || len(d.Over) != 1 || len(d.Warn) != 0 {
		t.Fatalf("over a soft budget again: %+v; want served, over, no second warning", d)
	}
	e.clock.Advance(24 * time.Hour)
	_, d = reserve(t, e.b, s, 2*dollar)
	if !d.Allowed || len(d.Warn) != 1 {
		t.Errorf("over a soft budget in the next period: %+v; want a new warning", d)
	}
}

func testSeeded(t *testing.T, e env) {
	now := e.clock.Now()
	day := usage.PeriodDay.Start(now)
	rec := func(id, tenantID, keyID string, at time.Time, cost usage.Nanodollars) usage.Record {
		return usage.Record{ID: id, Time: at, TenantID: tenantID, KeyID: keyID, Status: usage.StatusOK, Cost: cost}
	}
	if err := e.ledger.Append(context.Background(), []usage.Record{
		rec("a", "acme", "k1", day.Add(time.Minute), 300_000_000),
		rec("b", "acme", "k1", now.Add(-time.Second), 200_000_000),
		rec("c", "acme", "k2", day.Add(time.Hour), 100_000_000),
		rec("d", "acme", "k1", day.Add(-time.Second), 5*dollar), // yesterday
		rec("e", "other", "k9", day.Add(time.Hour), 7*dollar),
	}); err != nil {
		t.Fatal(err)
	}
	key := keyBudget("k1", dollar, true)
	ten := tenantBudget("acme", dollar, true)
	if sp := spending(t, e.b, key); sp.Spent != 500_000_000 {
		t.Errorf("key seeded with %d; want today's $0.50", sp.Spent)
	}
	if _, d := reserve(t, e.b, []usage.Budget{ten}, 400_000_000); !d.Allowed || d.Remaining != 0 {
		t.Errorf("tenant: %+v; want $0.40 allowed after $0.60 seeded, nothing remaining", d)
	}
	if _, d := reserve(t, e.b, []usage.Budget{key}, 500_000_001); d.Allowed {
		t.Error("key: reservation past the seeded spending allowed")
	}
}

func testLease(t *testing.T, e env) {
	s := []usage.Budget{keyBudget("k1", dollar, true)}
	r, _ := reserve(t, e.b, s, dollar)
	e.clock.Advance(Lease - time.Second)
	if _, d := reserve(t, e.b, s, 1); d.Allowed {
		t.Fatal("reservation released before its lease ran out")
	}
	e.clock.Advance(time.Second)
	if sp := spending(t, e.b, s[0]); sp.Reserved != 0 {
		t.Errorf("after the lease: %+v; want nothing reserved", sp)
	}
	// The request did finish: its late commit still counts.
	if err := r.Commit(context.Background(), 250_000_000); err != nil {
		t.Fatal(err)
	}
	if sp := spending(t, e.b, s[0]); sp.Spent != 250_000_000 || sp.Reserved != 0 {
		t.Errorf("after a late commit: %+v; want $0.25 spent", sp)
	}
}

func testSpending(t *testing.T, e env) {
	s := keyBudget("k1", dollar, false)
	now := e.clock.Now()
	r, _ := reserve(t, e.b, []usage.Budget{s}, 150_000_000)
	sp := spending(t, e.b, s)
	if sp.Spent != 0 || sp.Reserved != 150_000_000 || !sp.PeriodStart.Equal(usage.PeriodDay.Start(now)) ||
		!sp.PeriodEnd.Equal(usage.PeriodDay.End(now)) {
		t.Errorf("Spending = %+v", sp)
	}
	if err := r.Commit(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if sp := spending(t, e.b, s); sp.Spent != 0 || sp.Reserved != 0 {
		t.Errorf("after committing nothing: %+v", sp)
	}
	// Unpriced requests (cost 0) fit any budget that is not spent.
	if _, d := reserve(t, e.b, []usage.Budget{keyBudget("k2", 0, true)}, 0); !d.Allowed {
		t.Errorf("cost 0 against a $0 budget: %+v; want allowed", d)
	}
}

func testInvalid(t *testing.T, e env) {
	ctx := context.Background()
	good := keyBudget("k1", dollar, true)
	for name, call := range map[string]func() error{
		"negative cost": func() error { _, _, err := e.b.Reserve(ctx, []usage.Budget{good}, -1); return err },
		"no period": func() error {
			b := good
			b.Period = ""
			_, _, err := e.b.Reserve(ctx, []usage.Budget{b}, 1)
			return err
		},
		"bad kind": func() error {
			b := good
			b.Kind = "alias"
			_, _, err := e.b.Reserve(ctx, []usage.Budget{b}, 1)
			return err
		},
		"twice": func() error { _, _, err := e.b.Reserve(ctx, []usage.Budget{good, good}, 1); return err },
	} {
		if err := call(); !errors.Is(err, usage.ErrInvalidBudget) {
			t.Errorf("%s: %v; want ErrInvalidBudget", name, err)
		}
	}
}
