package redis_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/redis"
	"github.com/bulwark-ai/bulwark/usage"
	"github.com/bulwark-ai/bulwark/usage/budgettest"
)

func TestBudgets(t *testing.T) {
	budgettest.Run(t, func(t *testing.T, cfg budgettest.Config) usage.Budgets {
		c := newClient(t)
		return redis.NewBudgets(c, redis.BudgetsOptions{Prefix: testPrefix(t, c), Ledger: cfg.Ledger, Lease: cfg.Lease, Now: cfg.Now})
	})
}

// Three replicas share one hard budget: the spending they commit stays
// within it, and a retried reserve is counted once.
func TestBudgetsReplicas(t *testing.T) {
	const replicas, requests, cost = 3, 150, 7_000_000
	prefix := testPrefix(t, newClient(t))
	s := []usage.Budget{{Kind: usage.BudgetKey, ID: "k", TenantID: "acme", Period: usage.PeriodMonth, Amount: 50 * cost, Hard: true}}
	bs := make([]*redis.Budgets, replicas)
	for i := range bs {
		bs[i] = redis.NewBudgets(newClient(t), redis.BudgetsOptions{Prefix: prefix})
	}
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() {
			r, d, err := bs[i%replicas].Reserve(context.Background(), s, cost)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			if d.Allowed {
				accepted.Add(1)
				if err := r.Commit(context.Background(), cost); err != nil {
					t.Errorf("commit: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if n := accepted.Load(); n != 50 {
		t.Errorf("%d accepted; want 50", n)
	}
	sp, err := bs[0].Spending(t.Context(), s[0])
	if err != nil || sp.Spent != 50*cost || sp.Reserved != 0 {
		t.Errorf("Spending = %+v, %v; want exactly the budget spent", sp, err)
	}
}

// A retried Reserve whose first attempt was applied is not counted twice.
func TestBudgetsRetriedReserve(t *testing.T) {
	c := newClient(t)
	b := redis.NewBudgets(c, redis.BudgetsOptions{Prefix: testPrefix(t, c)})
	s := []usage.Budget{{Kind: usage.BudgetKey, ID: "k", TenantID: "acme", Period: usage.PeriodDay, Amount: 100, Hard: true}}
	r1, d, err := redis.BudgetReserveAs(b, t.Context(), "retried", s, 60)
	if err != nil || !d.Allowed {
		t.Fatalf("Reserve = %+v, %v", d, err)
	}
	r2, d, err := redis.BudgetReserveAs(b, t.Context(), "retried", s, 60)
	if err != nil || !d.Allowed || d.Remaining != 40 {
		t.Fatalf("retried Reserve = %+v, %v; want allowed with 40 remaining", d, err)
	}
	if err := r1.Commit(t.Context(), 50); err != nil {
		t.Fatal(err)
	}
	if err := r2.Commit(t.Context(), 50); err != nil {
		t.Fatal(err)
	}
	if sp, err := b.Spending(t.Context(), s[0]); err != nil || sp.Spent != 50 || sp.Reserved != 0 {
		t.Errorf("Spending = %+v, %v; want 50 spent once", sp, err)
	}
}

// Every key the budget scripts write expires after its period.
func TestBudgetsKeysExpire(t *testing.T) {
	c := newClient(t)
	prefix := testPrefix(t, c)
	b := redis.NewBudgets(c, redis.BudgetsOptions{Prefix: prefix})
	s := []usage.Budget{{Kind: usage.BudgetTenant, ID: "acme", TenantID: "acme", Period: usage.PeriodDay, Amount: 100, Hard: true}}
	if _, _, err := b.Reserve(t.Context(), s, 10); err != nil {
		t.Fatal(err)
	}
	keys := scanKeys(t, c, prefix)
	if len(keys) != 3 {
		t.Errorf("keys %v; want the period, its leases and the marker", keys)
	}
	limit := 24*time.Hour + usage.DefaultBudgetLease + usage.BudgetForget
	for _, k := range keys {
		ttl, err := c.PTTL(t.Context(), k).Result()
		if err != nil || ttl <= 0 || ttl > limit {
			t.Errorf("PTTL(%s) = %v, %v; want a TTL of at most %v", k, ttl, err, limit)
		}
	}
}

// A Fallback over an unreachable Redis serves budgets locally.
func TestBudgetFallbackRedisUnreachable(t *testing.T) {
	c, err := redis.NewClient("redis://127.0.0.1:1/0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := usage.NewBudgetFallback(redis.NewBudgets(c, redis.BudgetsOptions{}), usage.BudgetFallbackOptions{Timeout: 200 * time.Millisecond})
	defer f.Close()
	s := []usage.Budget{{Kind: usage.BudgetKey, ID: "k", TenantID: "acme", Period: usage.PeriodDay, Amount: 100, Hard: true}}
	allowed := 0
	for range 5 {
		r, d, err := f.Reserve(t.Context(), s, 30)
		if err != nil {
			t.Fatalf("Reserve while Redis is unreachable: %v", err)
		}
		if d.Allowed {
			allowed++
			if err := r.Commit(t.Context(), 30); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !f.Degraded() || allowed != 3 {
		t.Errorf("degraded %v, %d allowed; want degraded with 3 allowed", f.Degraded(), allowed)
	}
}

// A reserve its caller gave up on (its context ended) is cancelled, and a
// cancel that arrives before the reserve leaves a tombstone: the reserve,
// arriving late, reserves nothing for nobody — no phantom "budget
// exceeded" until its lease runs out.
func TestBudgetsAbandonedReserveHoldsNothing(t *testing.T) {
	c := newClient(t)
	b := redis.NewBudgets(c, redis.BudgetsOptions{Prefix: testPrefix(t, c)})
	s := []usage.Budget{{Kind: usage.BudgetKey, ID: "k", TenantID: "acme", Period: usage.PeriodDay, Amount: 100, Hard: true}}
	if _, _, err := b.Reserve(t.Context(), s, 1); err != nil { // seeds the period
		t.Fatal(err)
	}
	// The cancel first, then the reserve it was for.
	redis.BudgetAbandonAs(b, "late", s)
	if _, _, err := redis.BudgetReserveAs(b, t.Context(), "late", s, 60); err != nil {
		t.Fatal(err)
	}
	// A caller that gives up: its reserve returns an error, and the same
	// reserve, applied afterwards, holds nothing.
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := redis.BudgetReserveAs(b, gone, "gave-up", s, 60); err == nil {
		t.Fatal("a reserve with an ended context succeeded")
	}
	if _, _, err := redis.BudgetReserveAs(b, t.Context(), "gave-up", s, 60); err != nil {
		t.Fatal(err)
	}
	if sp, err := b.Spending(t.Context(), s[0]); err != nil || sp.Reserved != 1 {
		t.Errorf("Spending = %+v, %v; want only the first reservation (1) held", sp, err)
	}
}
