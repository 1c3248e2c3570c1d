package usage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Period is the calendar period a budget's amount is for. Periods are UTC
// calendar days and months: a day budget resets at 00:00 UTC, a month
// budget at 00:00 UTC on the first of the month.
type Period string

// Budget periods.
const (
	PeriodDay   Period = "day"
	PeriodMonth Period = "month"
)

// ParsePeriod parses a period as the admin API and the store write it.
func ParsePeriod(s string) (Period, error) {
	switch p := Period(s); p {
	case PeriodDay, PeriodMonth:
		return p, nil
	}
	return "", fmt.Errorf("unknown budget period %q (want day or month)", s)
}

// Start returns the start of the period t falls in.
func (p Period) Start(t time.Time) time.Time {
	t = t.UTC()
	if p == PeriodMonth {
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// End returns the end of the period t falls in: the start of the next one.
func (p Period) End(t time.Time) time.Time {
	if p == PeriodMonth {
		return p.Start(t).AddDate(0, 1, 0)
	}
	return p.Start(t).AddDate(0, 0, 1)
}

// Budget scope kinds.
const (
	BudgetTenant = "tenant"
	BudgetKey    = "key"
)

// Errors. ErrBudgetExceeded is matched (errors.Is) by the *BudgetError of
// a refusal; ErrInvalidBudget by a call or a budget a caller got wrong;
// ErrNoBudget by a store asked for a budget that is not set.
var (
	ErrBudgetExceeded = errors.New("budget exceeded")
	ErrInvalidBudget  = errors.New("invalid budget")
	ErrNoBudget       = errors.New("no budget")
	// ErrSeed is matched by the error of a period that could not be
	// seeded because the ledger failed: the shared counters are fine, so
	// a BudgetFallback does not switch to local ones for it.
	ErrSeed = errors.New("seed budget from the ledger")
)

// MaxBudget bounds a budget's amount: nine million dollars a period, so
// that every sum a backend compares stays exact in the 53 bits of a
// double (Redis scripts compute in Lua numbers).
const MaxBudget Nanodollars = 9e15

// Budget is the spending allowed to one tenant or key per period. It is
// plain data, stored by the tenant store and carried with every call, so a
// changed budget applies to the next request.
type Budget struct {
	// Kind is BudgetTenant or BudgetKey; ID the tenant's or the key's.
	Kind string `json:"scope"`
	ID   string `json:"id"`
	// TenantID is the tenant of a key budget, and ID for a tenant budget:
	// the ledger is read by tenant when a period's spending is seeded.
	TenantID string `json:"tenant_id"`
	Period   Period `json:"period"`
	// Amount is what may be spent in one period.
	Amount Nanodollars `json:"amount_nanodollars"`
	// Hard refuses a request that could take spending over Amount; a soft
	// budget serves it and reports the overage.
	Hard      bool      `json:"hard"`
	UpdatedAt time.Time `json:"updated_at"`
}

// IsZero reports whether b is no budget at all.
func (b Budget) IsZero() bool { return b.Period == "" }

// Name returns "kind:id", the budget's name in keys and messages.
func (b Budget) Name() string { return b.Kind + ":" + b.ID }

// Validate reports, wrapping ErrInvalidBudget, what makes b unusable.
func (b Budget) Validate() error {
	var errs []error
	if b.Kind != BudgetTenant && b.Kind != BudgetKey {
		errs = append(errs, fmt.Errorf("scope kind %q is not tenant or key", b.Kind))
	}
	if b.ID == "" {
		errs = append(errs, errors.New("empty id"))
	}
	if _, err := ParsePeriod(string(b.Period)); err != nil {
		errs = append(errs, err)
	}
	if b.Amount < 0 || b.Amount > MaxBudget {
		errs = append(errs, fmt.Errorf("amount %s is not between $0 and %s", b.Amount, MaxBudget))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w %s: %w", ErrInvalidBudget, b.Name(), errors.Join(errs...))
	}
	return nil
}

// ValidateBudgets reports, wrapping ErrInvalidBudget, whether a Reserve
// call is malformed: an invalid budget, the same scope twice or a negative
// cost. Backends call it first.
func ValidateBudgets(scopes []Budget, cost Nanodollars) error {
	if cost < 0 {
		return fmt.Errorf("%w: negative cost %d", ErrInvalidBudget, cost)
	}
	for i, b := range scopes {
		if err := b.Validate(); err != nil {
			return err
		}
		for _, p := range scopes[:i] {
			if p.Kind == b.Kind && p.ID == b.ID {
				return fmt.Errorf("%w: scope %s given twice", ErrInvalidBudget, b.Name())
			}
		}
	}
	return nil
}

// BudgetLevel is the state of one budget's current period just before a
// reservation.
type BudgetLevel struct {
	// Spent is what committed requests cost in the period, seeded from the
	// ledger; Reserved what requests in flight may still cost.
	Spent, Reserved Nanodollars
	// Warned is set once a soft budget went over in the period.
	Warned bool
}

// BudgetDecision is the outcome of a Reserve.
type BudgetDecision struct {
	Allowed bool
	// Remaining is the least headroom (amount less spent and reserved, this
	// reservation included when allowed) among the scopes, never negative;
	// Reset is when the period of that scope ends. They are what the
	// x-bulwark-budget-remaining header says.
	Remaining Nanodollars
	Reset     time.Duration

	// When refused: the hard budget that refused (the one whose period
	// ends last, if several did), its level and how long until its period
	// resets.
	Scope      Budget
	Level      BudgetLevel
	RetryAfter time.Duration
	// Requested is the reservation's cost.
	Requested Nanodollars

	// Over lists the soft budgets the reservation takes over their amount;
	// Warn those of them that went over for the first time in the period
	// (warnings are logged once per period and budget).
	Over, Warn []Budget
}

// Err returns nil if d allowed the reservation, else a *BudgetError.
func (d BudgetDecision) Err() error {
	if d.Allowed {
		return nil
	}
	return &BudgetError{Scope: d.Scope, Spent: d.Level.Spent, Reserved: d.Level.Reserved, Requested: d.Requested, RetryAfter: d.RetryAfter}
}

// BudgetError is a refusal by a hard budget. It matches ErrBudgetExceeded.
type BudgetError struct {
	Scope     Budget
	Spent     Nanodollars
	Reserved  Nanodollars
	Requested Nanodollars
	// RetryAfter is the time until the budget's period resets.
	RetryAfter time.Duration
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("budget exceeded for %s: %s spent and %s reserved of %s this %s; this request may cost up to %s; the budget resets in %v",
		e.Scope.Name(), e.Spent, e.Reserved, e.Scope.Amount, e.Scope.Period, e.Requested, e.RetryAfter.Round(time.Second))
}

// Unwrap returns ErrBudgetExceeded.
func (e *BudgetError) Unwrap() error { return ErrBudgetExceeded }

// DecideBudget decides a reservation of cost against scopes whose levels
// are levels (same order), at now, with the rule every backend applies: a
// hard budget refuses if spent + reserved + cost would exceed its amount;
// a soft one never refuses, and reports the overage. A backend evaluates
// that rule atomically and then calls DecideBudget for the decision, so
// every backend answers alike.
func DecideBudget(scopes []Budget, levels []BudgetLevel, cost Nanodollars, now time.Time) BudgetDecision {
	d := BudgetDecision{Allowed: true, Requested: cost}
	for i, b := range scopes {
		lv := levels[i]
		if !over(b, lv, cost) || !b.Hard {
			continue
		}
		wait := b.Period.End(now).Sub(now)
		if !d.Allowed && wait <= d.RetryAfter {
			continue
		}
		d.Allowed, d.Scope, d.Level, d.RetryAfter = false, b, lv, wait
	}
	first := true
	for i, b := range scopes {
		lv := levels[i]
		used := add(lv.Spent, lv.Reserved)
		if d.Allowed {
			used = add(used, cost)
			if !b.Hard && over(b, lv, cost) {
				d.Over = append(d.Over, b)
				if !lv.Warned {
					d.Warn = append(d.Warn, b)
				}
			}
		}
		rem := max(b.Amount-used, 0)
		if first || rem < d.Remaining {
			d.Remaining, d.Reset, first = rem, b.Period.End(now).Sub(now), false
		}
	}
	return d
}

// over reports whether cost takes b, at level lv, over its amount.
func over(b Budget, lv BudgetLevel, cost Nanodollars) bool {
	return add(add(lv.Spent, lv.Reserved), cost) > b.Amount
}

// add adds without overflowing.
func add(a, b Nanodollars) Nanodollars {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// Spending is the state of a budget's current period, as the admin API
// shows it.
type Spending struct {
	PeriodStart time.Time   `json:"period_start"`
	PeriodEnd   time.Time   `json:"period_end"`
	Spent       Nanodollars `json:"spent_nanodollars"`
	Reserved    Nanodollars `json:"reserved_nanodollars"`
}

// BudgetReservation is what an allowed Reserve holds: the reservation's
// cost in every budget. Exactly one of Commit and Cancel settles it; later
// calls of either are no-ops that return nil. A reservation not settled
// within its lease (DefaultBudgetLease) is released; a Commit that comes
// later still counts its cost as spent, until the reservation is
// forgotten (BudgetForget after the lease). A BudgetReservation is safe
// for concurrent use.
type BudgetReservation interface {
	// ID identifies the reservation; backends use it to settle it once.
	ID() string
	// Commit replaces the reserved cost with what the request actually
	// cost, in the period the reservation was made in.
	Commit(ctx context.Context, actual Nanodollars) error
	// Cancel gives the reserved cost back: the request cost nothing.
	Cancel(ctx context.Context) error
}

// Budgets enforces budgets. Implementations are safe for concurrent use.
type Budgets interface {
	// Reserve reserves cost in the current period of every budget, all or
	// nothing. If a hard budget refuses, the reservation is nil and the
	// decision says why (BudgetDecision.Err); the error is only for a
	// failure of the backend (or of seeding a period from the ledger) or an
	// invalid call (ErrInvalidBudget).
	Reserve(ctx context.Context, scopes []Budget, cost Nanodollars) (BudgetReservation, BudgetDecision, error)
	// Spending reports b's current period.
	Spending(ctx context.Context, b Budget) (Spending, error)
}

// DefaultBudgetLease is how long an unsettled reservation holds its cost
// (its replica crashed, or a caller forgot it). It must exceed the longest
// request, streams included.
const DefaultBudgetLease = 10 * time.Minute

// BudgetForget is how long after its lease an unsettled reservation is
// forgotten: a Commit within it still counts as spent.
const BudgetForget = time.Hour

// LedgerSpent returns what b's scope spent from from (inclusive) to to
// (exclusive) according to the ledger: the seed of a period's spending, so
// that a restart, or a lost shared counter, does not reset it.
func LedgerSpent(ctx context.Context, l Ledger, b Budget, from, to time.Time) (Nanodollars, error) {
	f := Filter{Tenant: b.TenantID, From: from, To: to, GroupBy: GroupTenant}
	switch b.Kind {
	case BudgetTenant:
		f.Tenant = b.ID
	case BudgetKey:
		f.KeyID = b.ID
	}
	rows, err := l.Query(ctx, f)
	if err != nil {
		return 0, fmt.Errorf("%w %s: %w", ErrSeed, b.Name(), err)
	}
	var sum Nanodollars
	for _, r := range rows {
		sum = add(sum, r.Cost)
	}
	return sum, nil
}
