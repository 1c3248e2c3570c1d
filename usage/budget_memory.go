package usage

import (
	"context"
	"crypto/rand"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"sync"
	"time"
)

// MemoryBudgetsOptions configure a MemoryBudgets. The zero value is valid.
type MemoryBudgetsOptions struct {
	// Ledger seeds each budget's period with what the ledger says its
	// scope spent since the period began, so that a restart does not reset
	// spending; nil starts every period at 0.
	Ledger Ledger
	// SeedTimeout bounds one ledger query (5s); SeedRetry is how long a
	// budget whose seeding failed is not seeded again, Reserve failing at
	// once meanwhile (5s).
	SeedTimeout, SeedRetry time.Duration
	// Lease is how long an unsettled reservation holds its cost
	// (DefaultBudgetLease).
	Lease time.Duration
	// Share is the part of each budget's headroom at seeding (amount less
	// the seeded spending) this process enforces, above 0 and at most 1;
	// 0 means 1. BudgetFallback sets it to share a budget among replicas
	// while they cannot reach the shared counters. It is taken to the
	// nearest millionth and applied in integers, rounding up (ShareOf).
	Share float64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// MemoryBudgets is the embedded budget backend: exact, in process, for one
// replica, with each period's spending seeded from the usage ledger the
// first time a budget is used in it. It is safe for concurrent use: one
// mutex guards all counters, so a reservation against several budgets is
// atomic; ledger queries run outside it.
type MemoryBudgets struct {
	o MemoryBudgetsOptions

	mu     sync.Mutex
	states map[string]*budgetState // by budget and period (stateKey)
	open   map[string]*memBudgetReservation
	calls  int // Reserve calls since the last sweep
}

var _ Budgets = (*MemoryBudgets)(nil)

// budgetState is one budget's period.
type budgetState struct {
	// ready is closed once the period is seeded (or seeding failed: err).
	ready    chan struct{}
	err      error
	failedAt time.Time

	end      time.Time
	seed     Nanodollars // the ledger's spending at seeding
	spent    Nanodollars
	reserved Nanodollars
	warned   bool
	// leases holds the unsettled reservations' costs and lease expiries.
	leases map[string]lease
}

type lease struct {
	cost    Nanodollars
	expires time.Time
}

// NewMemoryBudgets returns a MemoryBudgets with no state.
func NewMemoryBudgets(o MemoryBudgetsOptions) *MemoryBudgets {
	if o.SeedTimeout <= 0 {
		o.SeedTimeout = 5 * time.Second
	}
	if o.SeedRetry <= 0 {
		o.SeedRetry = 5 * time.Second
	}
	if o.Lease <= 0 {
		o.Lease = DefaultBudgetLease
	}
	if o.Share <= 0 || o.Share > 1 {
		o.Share = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &MemoryBudgets{o: o, states: map[string]*budgetState{}, open: map[string]*memBudgetReservation{}}
}

// stateKey names b's period starting at start.
func stateKey(b Budget, start time.Time) string {
	return b.Name() + "@" + string(b.Period) + ":" + strconv.FormatInt(start.Unix(), 10)
}

// state returns b's period at now, seeding it from the ledger first if
// needed. It must be called without m.mu held.
func (m *MemoryBudgets) state(ctx context.Context, b Budget, now time.Time) (*budgetState, error) {
	key := stateKey(b, b.Period.Start(now))
	m.mu.Lock()
	st := m.states[key]
	if st != nil && st.err != nil && now.Sub(st.failedAt) >= m.o.SeedRetry {
		delete(m.states, key)
		st = nil
	}
	if st == nil {
		// This call seeds the period; calls meanwhile wait for it.
		st = &budgetState{ready: make(chan struct{}), end: b.Period.End(now), leases: map[string]lease{}}
		m.states[key] = st
		m.mu.Unlock()
		m.seed(ctx, st, b, now)
		return st, st.err
	}
	m.mu.Unlock()
	select {
	case <-st.ready:
		return st, st.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// seed fills in st from the ledger and marks it ready.
func (m *MemoryBudgets) seed(ctx context.Context, st *budgetState, b Budget, now time.Time) {
	var spent Nanodollars
	var err error
	if m.o.Ledger != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.o.SeedTimeout)
		spent, err = LedgerSpent(sctx, m.o.Ledger, b, b.Period.Start(now), b.Period.End(now))
		cancel()
	}
	m.mu.Lock()
	if err != nil {
		st.err, st.failedAt = err, now
	} else {
		st.seed, st.spent = spent, spent
	}
	close(st.ready)
	m.mu.Unlock()
}

// limit returns the amount this process enforces for b in st.
func (m *MemoryBudgets) limit(b Budget, st *budgetState) Nanodollars {
	if m.o.Share == 1 || b.Amount <= st.seed {
		return b.Amount
	}
	return st.seed + ShareOf(b.Amount-st.seed, m.o.Share)
}

// ShareOf returns share (above 0, at most 1; anything else means 1) of
// amount, rounded up, in integer arithmetic: the share is taken to the
// nearest millionth first, so that 0.34 of 600 is 204 and no amount loses
// or gains a nanodollar to floating point. A positive amount's share is at
// least 1.
func ShareOf(amount Nanodollars, share float64) Nanodollars {
	if amount <= 0 {
		return 0
	}
	ppm := uint64(1e6)
	if share > 0 && share < 1 {
		ppm = max(uint64(math.Round(share*1e6)), 1)
	}
	hi, lo := bits.Mul64(uint64(amount), ppm)
	lo, carry := bits.Add64(lo, 1e6-1, 0)
	q, _ := bits.Div64(hi+carry, lo, 1e6) // hi+carry < 1e6: ppm is at most 1e6
	return max(Nanodollars(q), 1)
}

// expire releases the leases of st that ran out.
func (st *budgetState) expire(now time.Time) {
	for id, l := range st.leases {
		if !now.Before(l.expires) {
			st.reserved -= l.cost
			delete(st.leases, id)
		}
	}
}

// sweepEvery is how many Reserve calls pass between sweeps of ended periods.
const sweepEvery = 4096

// sweep forgets periods that ended more than a lease and BudgetForget ago
// and reservations too old to settle. m.mu must be held.
func (m *MemoryBudgets) sweep(now time.Time) {
	m.calls = 0
	for key, st := range m.states {
		select {
		case <-st.ready:
		default:
			continue // being seeded
		}
		if now.Sub(st.end) > m.o.Lease+BudgetForget || (st.err != nil && now.Sub(st.failedAt) >= m.o.SeedRetry) {
			delete(m.states, key)
		}
	}
	for id, r := range m.open {
		if !now.Before(r.forget) {
			delete(m.open, id)
		}
	}
}

// Reserve implements Budgets.
func (m *MemoryBudgets) Reserve(ctx context.Context, scopes []Budget, cost Nanodollars) (BudgetReservation, BudgetDecision, error) {
	if err := ValidateBudgets(scopes, cost); err != nil {
		return nil, BudgetDecision{}, err
	}
	now := m.o.Now()
	states := make([]*budgetState, len(scopes))
	for i, b := range scopes {
		st, err := m.state(ctx, b, now)
		if err != nil {
			return nil, BudgetDecision{}, err
		}
		states[i] = st
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.calls++; m.calls >= sweepEvery {
		m.sweep(now)
	}
	levels := make([]BudgetLevel, len(scopes))
	local := make([]Budget, len(scopes))
	for i, st := range states {
		st.expire(now)
		levels[i] = BudgetLevel{Spent: st.spent, Reserved: st.reserved, Warned: st.warned}
		local[i] = scopes[i]
		local[i].Amount = m.limit(scopes[i], st)
	}
	d := DecideBudget(local, levels, cost, now)
	if !d.Allowed {
		return nil, d, nil
	}
	r := &memBudgetReservation{m: m, id: rand.Text(), cost: cost, forget: now.Add(m.o.Lease + BudgetForget)}
	for i, st := range states {
		if over(local[i], levels[i], cost) {
			st.warned = true
		}
		st.reserved = add(st.reserved, cost)
		st.leases[r.id] = lease{cost: cost, expires: now.Add(m.o.Lease)}
	}
	r.states = states
	m.open[r.id] = r
	return r, d, nil
}

// Spending implements Budgets.
func (m *MemoryBudgets) Spending(ctx context.Context, b Budget) (Spending, error) {
	if err := b.Validate(); err != nil {
		return Spending{}, err
	}
	now := m.o.Now()
	st, err := m.state(ctx, b, now)
	if err != nil {
		return Spending{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st.expire(now)
	return Spending{PeriodStart: b.Period.Start(now), PeriodEnd: st.end, Spent: st.spent, Reserved: st.reserved}, nil
}

// settle applies a commit (actual ≥ 0) or a cancel (actual < 0) once.
func (m *MemoryBudgets) settle(r *memBudgetReservation, actual Nanodollars) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.open[r.id] != r {
		return // settled, or forgotten
	}
	delete(m.open, r.id)
	for _, st := range r.states {
		if l, ok := st.leases[r.id]; ok {
			st.reserved -= l.cost
			delete(st.leases, r.id)
		}
		if actual > 0 {
			st.spent = add(st.spent, actual)
		}
	}
}

// memBudgetReservation is a MemoryBudgets reservation.
type memBudgetReservation struct {
	m      *MemoryBudgets
	id     string
	states []*budgetState
	cost   Nanodollars
	forget time.Time
}

func (r *memBudgetReservation) ID() string { return r.id }

func (r *memBudgetReservation) Commit(ctx context.Context, actual Nanodollars) error {
	if actual < 0 {
		return fmt.Errorf("%w: negative cost %d", ErrInvalidBudget, actual)
	}
	r.m.settle(r, actual)
	return nil
}

func (r *memBudgetReservation) Cancel(ctx context.Context) error {
	r.m.settle(r, -1)
	return nil
}
