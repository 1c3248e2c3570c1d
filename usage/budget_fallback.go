package usage

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/bulwark-ai/bulwark/resilience"
)

// BudgetFallbackOptions configure a BudgetFallback. The zero value is
// valid.
type BudgetFallbackOptions struct {
	// Local configures the local MemoryBudgets served from while the
	// shared backend is unreachable: give it the Ledger to seed from and
	// the Share of each budget's remaining headroom one replica may spend
	// on its own (typically 1/replicas).
	Local MemoryBudgetsOptions
	// Timeout bounds each call to the shared backend; 0 means 1s, since
	// the first call in a period may seed it from the ledger first.
	Timeout time.Duration
	// ProbeMin and ProbeMax bound the backoff between probes of the shared
	// backend while degraded; 0 means 250ms and 5s.
	ProbeMin, ProbeMax time.Duration
	// OnChange, if set, is called when the BudgetFallback becomes degraded
	// (with the error that made it so) and when it recovers (with nil). It
	// must not block.
	OnChange func(degraded bool, err error)
}

// BudgetPinger is the optional capability of a shared budget backend to
// check that it is reachable without touching any budget.
type BudgetPinger interface {
	Ping(ctx context.Context) error
}

// BudgetFallback keeps a replica enforcing budgets when the shared backend
// (Redis) is unreachable, as limit.Fallback does for rate limits: it calls
// the shared backend with a short timeout and, when a call fails, serves
// from a local MemoryBudgets (seeded from the ledger, enforcing a share of
// each budget's headroom), reports Degraded, and probes the shared backend
// with exponential backoff until it answers, then uses it again.
//
// Reservations are settled by the backend that made them. What was spent
// locally while degraded reaches the shared counters only through the
// ledger, when a shared period is next seeded: a short outage undercounts
// it there.
//
// A BudgetFallback is safe for concurrent use. Close stops its probe
// goroutine.
type BudgetFallback struct {
	shared Budgets
	// local is the MemoryBudgets of the current outage: a new one each
	// time the shared backend becomes unreachable, seeded afresh from the
	// ledger (which holds what was spent through the shared backend
	// meanwhile). Its reservations settle in the one that made them.
	local  atomic.Pointer[MemoryBudgets]
	o      BudgetFallbackOptions
	outage *resilience.Outage
}

var _ Budgets = (*BudgetFallback)(nil)

// NewBudgetFallback returns a BudgetFallback over shared.
func NewBudgetFallback(shared Budgets, o BudgetFallbackOptions) *BudgetFallback {
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	f := &BudgetFallback{shared: shared, o: o}
	f.local.Store(NewMemoryBudgets(o.Local))
	f.outage = resilience.NewOutage(f.ping, resilience.OutageOptions{
		Timeout: o.Timeout, ProbeMin: o.ProbeMin, ProbeMax: o.ProbeMax, OnChange: o.OnChange,
	})
	return f
}

// Degraded reports whether the BudgetFallback serves from its local
// counters.
func (f *BudgetFallback) Degraded() bool { return f.outage.Degraded() }

// Reserve implements Budgets.
func (f *BudgetFallback) Reserve(ctx context.Context, scopes []Budget, cost Nanodollars) (BudgetReservation, BudgetDecision, error) {
	if err := ValidateBudgets(scopes, cost); err != nil {
		return nil, BudgetDecision{}, err
	}
	if !f.outage.Degraded() {
		cctx, cancel := context.WithTimeout(ctx, f.o.Timeout)
		r, d, err := f.shared.Reserve(cctx, scopes, cost)
		cancel()
		switch {
		case err == nil:
			return r, d, nil
		case ctx.Err() != nil:
			return nil, BudgetDecision{}, ctx.Err()
		case errors.Is(err, ErrInvalidBudget), errors.Is(err, ErrSeed):
			return nil, BudgetDecision{}, err
		}
		f.degrade(err)
	}
	return f.local.Load().Reserve(ctx, scopes, cost)
}

// Spending implements Budgets: the shared backend's, or the local one's
// while degraded.
func (f *BudgetFallback) Spending(ctx context.Context, b Budget) (Spending, error) {
	if !f.outage.Degraded() {
		cctx, cancel := context.WithTimeout(ctx, f.o.Timeout)
		s, err := f.shared.Spending(cctx, b)
		cancel()
		if err == nil || ctx.Err() != nil || errors.Is(err, ErrInvalidBudget) || errors.Is(err, ErrSeed) {
			return s, err
		}
		f.degrade(err)
	}
	return f.local.Load().Spending(ctx, b)
}

// degrade begins an outage, serving from fresh local counters seeded
// from the ledger (which holds what was spent through the shared backend
// until now).
func (f *BudgetFallback) degrade(err error) {
	f.outage.Begin(err, func() { f.local.Store(NewMemoryBudgets(f.o.Local)) })
}

func (f *BudgetFallback) ping(ctx context.Context) error {
	if p, ok := f.shared.(BudgetPinger); ok {
		return p.Ping(ctx)
	}
	r, _, err := f.shared.Reserve(ctx, nil, 0)
	if err != nil {
		return err
	}
	return r.Cancel(ctx)
}

// Probe checks that the shared backend answers within ctx, for the
// readiness check. When it does not, the BudgetFallback serves from local
// counters from then on, as after a failed Reserve, until its own probes
// find the shared backend again; a probe cut short by canceling ctx
// changes nothing.
func (f *BudgetFallback) Probe(ctx context.Context) error {
	err := f.ping(ctx)
	if err != nil && !errors.Is(ctx.Err(), context.Canceled) {
		f.degrade(err)
	}
	return err
}

// Close stops probing and waits for the probe goroutine to end. The
// BudgetFallback keeps serving (from whichever backend it was using) after
// Close.
func (f *BudgetFallback) Close() error { return f.outage.Close() }
