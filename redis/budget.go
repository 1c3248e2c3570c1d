package redis

import (
	"context"
	"crypto/rand"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bulwark-ai/bulwark/usage"
)

var (
	//go:embed scripts/budget_reserve.lua
	budgetReserveSrc string
	//go:embed scripts/budget_settle.lua
	budgetSettleSrc string
	//go:embed scripts/budget_seed.lua
	budgetSeedSrc string
	//go:embed scripts/budget_spending.lua
	budgetSpendingSrc string

	budgetReserveScript  = goredis.NewScript(budgetReserveSrc)
	budgetSettleScript   = goredis.NewScript(budgetSettleSrc)
	budgetSeedScript     = goredis.NewScript(budgetSeedSrc)
	budgetSpendingScript = goredis.NewScript(budgetSpendingSrc)
)

// BudgetsOptions configure a Budgets. The zero value is valid.
type BudgetsOptions struct {
	// Prefix namespaces every key; "" means "bulwark:". With Redis
	// Cluster, put a hash tag in it ("{bulwark}:").
	Prefix string
	// Ledger seeds a budget's period when Redis holds nothing for it (the
	// period just began, or Redis lost its data); nil seeds with 0.
	Ledger usage.Ledger
	// Lease is how long an unsettled reservation holds its cost;
	// 0 means usage.DefaultBudgetLease.
	Lease time.Duration
	// Now, if set, is the clock for periods and leases; nil means the
	// local clock for periods (they change at midnight UTC, so seconds of
	// skew between replicas hardly matter) and the Redis server's TIME for
	// leases. Tests set it to drive time.
	Now func() time.Time
}

// Budgets is the scaled-out budget backend: every replica runs one
// against the same Redis and they enforce one budget. Each Reserve, Commit
// and Cancel is one EVALSHA of a script that reads and writes every budget
// of the call atomically. It is safe for concurrent use.
type Budgets struct {
	c      goredis.UniversalClient
	prefix string
	ledger usage.Ledger
	lease  time.Duration
	now    func() time.Time

	mu      sync.Mutex
	seeding map[string]*seedCall // by period key: seeds under way here
}

// seedCall is one seeding of a period; the calls that need it meanwhile
// wait for it rather than query the ledger again.
type seedCall struct {
	done chan struct{}
	err  error
}

// seedTimeout bounds the seeding of a period: a ledger query and a script.
const seedTimeout = 5 * time.Second

var (
	_ usage.Budgets      = (*Budgets)(nil)
	_ usage.BudgetPinger = (*Budgets)(nil)
)

// NewBudgets returns a Budgets over c (made with NewClient, or at least
// with ContextTimeoutEnabled).
func NewBudgets(c goredis.UniversalClient, o BudgetsOptions) *Budgets {
	b := &Budgets{c: c, prefix: o.Prefix, ledger: o.Ledger, lease: o.Lease, now: o.Now, seeding: map[string]*seedCall{}}
	if b.prefix == "" {
		b.prefix = "bulwark:"
	}
	if b.lease <= 0 {
		b.lease = usage.DefaultBudgetLease
	}
	return b
}

// Ping checks that Redis answers.
func (b *Budgets) Ping(ctx context.Context) error {
	if err := probeWrite(ctx, b.c, b.prefix); err != nil {
		return fmt.Errorf("redis budgets: ping: %w", err)
	}
	return nil
}

// markerTTL is how long a reservation's marker, then its tombstone, lives
// (milliseconds): past its lease and the time a late settle is still
// honoured.
func (b *Budgets) markerTTL() int64 { return (b.lease + usage.BudgetForget).Milliseconds() }

// abandonTimeout bounds the cancel of a reserve whose caller gave up.
const abandonTimeout = 500 * time.Millisecond

// abandon cancels reservation id after its caller gave up waiting for the
// reserve (its context ended): the reserve may have been applied, or may
// still be, and would otherwise hold its cost until its lease ran out —
// "budget exceeded" for a reservation nobody holds. Cancelling first
// leaves a tombstone that a late reserve applies nothing for.
func (b *Budgets) abandon(id string, keys []string) {
	ctx, cancel := context.WithTimeout(context.Background(), abandonTimeout)
	defer cancel()
	_ = budgetSettleScript.Run(ctx, b.c, keys, id, -1, b.markerTTL()).Err()
}

func (b *Budgets) clock() time.Time {
	if b.now == nil {
		return time.Now()
	}
	return b.now()
}

// nowArg is the time argument of a script: "" asks for the server's TIME.
func (b *Budgets) nowArg() string {
	if b.now == nil {
		return ""
	}
	return strconv.FormatInt(b.now().UnixMicro(), 10)
}

// periodKey is the hash of budget s's period starting at start; its
// leases are periodKey + ":leases".
func (b *Budgets) periodKey(s usage.Budget, start time.Time) string {
	return b.prefix + "budget:" + s.Kind + ":" + s.ID + ":" + string(s.Period) + ":" + strconv.FormatInt(start.Unix(), 10)
}

func (b *Budgets) markerKey(id string) string { return b.prefix + "budget-res:" + id }

// expireAt is when the keys of s's period at now expire: a lease and
// usage.BudgetForget after the period ends, so that late commits land.
func (b *Budgets) expireAt(s usage.Budget, now time.Time) string {
	return strconv.FormatInt(s.Period.End(now).Add(b.lease+usage.BudgetForget).UnixMilli(), 10)
}

// keys returns the marker key and each budget's period and lease keys.
func (b *Budgets) keys(id string, scopes []usage.Budget, now time.Time) []string {
	keys := make([]string, 0, 1+2*len(scopes))
	keys = append(keys, b.markerKey(id))
	for _, s := range scopes {
		h := b.periodKey(s, s.Period.Start(now))
		keys = append(keys, h, h+":leases")
	}
	return keys
}

// Reserve implements usage.Budgets.
func (b *Budgets) Reserve(ctx context.Context, scopes []usage.Budget, cost usage.Nanodollars) (usage.BudgetReservation, usage.BudgetDecision, error) {
	if err := usage.ValidateBudgets(scopes, cost); err != nil {
		return nil, usage.BudgetDecision{}, err
	}
	return b.reserve(ctx, rand.Text(), scopes, cost)
}

// reserve reserves as the reservation id. Running it again with the same
// id after it was applied (a retry) applies nothing.
func (b *Budgets) reserve(ctx context.Context, id string, scopes []usage.Budget, cost usage.Nanodollars) (usage.BudgetReservation, usage.BudgetDecision, error) {
	now := b.clock()
	keys := b.keys(id, scopes, now)
	args := make([]any, 0, 5+3*len(scopes))
	args = append(args, b.nowArg(), id, b.lease.Microseconds(), b.markerTTL(), int64(cost))
	for _, s := range scopes {
		hard := 0
		if s.Hard {
			hard = 1
		}
		args = append(args, int64(s.Amount), hard, b.expireAt(s, now))
	}
	// Each round seeds at least one more period, so len(scopes)+1 rounds
	// suffice unless periods vanish as fast as they are seeded.
	for range len(scopes) + 2 {
		out, err := budgetReserveScript.Run(ctx, b.c, keys, args...).Slice()
		if err != nil {
			if ctx.Err() != nil {
				b.abandon(id, keys)
			}
			return nil, usage.BudgetDecision{}, fmt.Errorf("redis budgets: reserve: %w", err)
		}
		if code, _ := out[0].(int64); code == 2 {
			if err := b.seed(ctx, scopes, out[1:], now); err != nil {
				return nil, usage.BudgetDecision{}, err
			}
			continue
		}
		allowed, dup, levels, err := parseBudgetReserve(out, len(scopes))
		if err != nil {
			return nil, usage.BudgetDecision{}, fmt.Errorf("redis budgets: reserve: %w", err)
		}
		if dup {
			// Our own earlier attempt was applied and is in the levels:
			// take it out to report as that attempt would have.
			for i := range levels {
				levels[i].Reserved = max(levels[i].Reserved-cost, 0)
			}
		}
		d := usage.DecideBudget(scopes, levels, cost, now)
		if d.Allowed != allowed {
			if !dup {
				return nil, usage.BudgetDecision{}, errors.New("redis budgets: reserve: script and usage.DecideBudget disagree")
			}
			d.Allowed = true
		}
		if !allowed {
			return nil, d, nil
		}
		return &budgetReservation{b: b, id: id, keys: keys}, d, nil
	}
	return nil, usage.BudgetDecision{}, errors.New("redis budgets: reserve: budget periods expire as fast as they are seeded")
}

// seed seeds the periods named by idx (1-based script indices) from the
// ledger.
func (b *Budgets) seed(ctx context.Context, scopes []usage.Budget, idx []any, now time.Time) error {
	for _, v := range idx {
		i, ok := v.(int64)
		if !ok || i < 1 || int(i) > len(scopes) {
			return fmt.Errorf("redis budgets: reserve: script named budget %v", v)
		}
		if err := b.seedOne(ctx, scopes[i-1], now); err != nil {
			return err
		}
	}
	return nil
}

// seedOne seeds s's period at now with the ledger's spending, once per
// process at a time: concurrent callers wait for the first one's seeding,
// which runs to completion (within seedTimeout) even if its caller gives
// up, so that the period gets seeded.
func (b *Budgets) seedOne(ctx context.Context, s usage.Budget, now time.Time) error {
	key := b.periodKey(s, s.Period.Start(now))
	b.mu.Lock()
	if c := b.seeding[key]; c != nil {
		b.mu.Unlock()
		select {
		case <-c.done:
			return c.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c := &seedCall{done: make(chan struct{})}
	b.seeding[key] = c
	b.mu.Unlock()

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), seedTimeout)
	defer cancel()
	var spent usage.Nanodollars
	if b.ledger != nil {
		spent, c.err = usage.LedgerSpent(sctx, b.ledger, s, s.Period.Start(now), s.Period.End(now))
	}
	if c.err == nil {
		if err := budgetSeedScript.Run(sctx, b.c, []string{key}, int64(spent), b.expireAt(s, now)).Err(); err != nil {
			c.err = fmt.Errorf("redis budgets: seed: %w", err)
		}
	} else {
		c.err = fmt.Errorf("redis budgets: %w", c.err)
	}
	b.mu.Lock()
	delete(b.seeding, key)
	b.mu.Unlock()
	close(c.done)
	return c.err
}

// Spending implements usage.Budgets.
func (b *Budgets) Spending(ctx context.Context, s usage.Budget) (usage.Spending, error) {
	if err := s.Validate(); err != nil {
		return usage.Spending{}, err
	}
	now := b.clock()
	h := b.periodKey(s, s.Period.Start(now))
	out := usage.Spending{PeriodStart: s.Period.Start(now), PeriodEnd: s.Period.End(now)}
	for range 3 {
		res, err := budgetSpendingScript.Run(ctx, b.c, []string{h, h + ":leases"}, b.nowArg()).Slice()
		if err != nil {
			return usage.Spending{}, fmt.Errorf("redis budgets: spending: %w", err)
		}
		if code, _ := res[0].(int64); code == 0 {
			if err := b.seed(ctx, []usage.Budget{s}, []any{int64(1)}, now); err != nil {
				return usage.Spending{}, err
			}
			continue
		}
		if len(res) != 3 {
			return usage.Spending{}, fmt.Errorf("redis budgets: spending: script returned %v", res)
		}
		spent, err1 := parseNanos(res[1])
		reserved, err2 := parseNanos(res[2])
		if err := errors.Join(err1, err2); err != nil {
			return usage.Spending{}, fmt.Errorf("redis budgets: spending: %w", err)
		}
		out.Spent, out.Reserved = spent, reserved
		return out, nil
	}
	return usage.Spending{}, errors.New("redis budgets: spending: the period expires as fast as it is seeded")
}

func parseBudgetReserve(out []any, n int) (allowed, dup bool, levels []usage.BudgetLevel, err error) {
	if len(out) != 2+3*n {
		return false, false, nil, fmt.Errorf("script returned %d values; want %d", len(out), 2+3*n)
	}
	a, _ := out[0].(int64)
	d, _ := out[1].(int64)
	levels = make([]usage.BudgetLevel, n)
	for i := range levels {
		spent, err1 := parseNanos(out[2+3*i])
		reserved, err2 := parseNanos(out[3+3*i])
		if err := errors.Join(err1, err2); err != nil {
			return false, false, nil, err
		}
		w, _ := out[4+3*i].(string)
		levels[i] = usage.BudgetLevel{Spent: spent, Reserved: reserved, Warned: w == "1"}
	}
	return a == 1, d == 1, levels, nil
}

func parseNanos(v any) (usage.Nanodollars, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("script returned %v; want a decimal string", v)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return usage.Nanodollars(n), err
}

// budgetReservation is a Budgets reservation. Settling is idempotent in
// Redis (the marker), and settled short-cuts repeats in this process.
type budgetReservation struct {
	b       *Budgets
	id      string
	keys    []string
	settled atomic.Bool
}

func (r *budgetReservation) ID() string { return r.id }

func (r *budgetReservation) Commit(ctx context.Context, actual usage.Nanodollars) error {
	if actual < 0 {
		return fmt.Errorf("%w: negative cost %d", usage.ErrInvalidBudget, actual)
	}
	return r.settle(ctx, "commit", int64(actual))
}

func (r *budgetReservation) Cancel(ctx context.Context) error {
	return r.settle(ctx, "cancel", -1)
}

func (r *budgetReservation) settle(ctx context.Context, op string, actual int64) error {
	if r.settled.Load() {
		return nil
	}
	if err := budgetSettleScript.Run(ctx, r.b.c, r.keys, r.id, actual, r.b.markerTTL()).Err(); err != nil {
		return fmt.Errorf("redis budgets: %s %s: %w", op, r.id, err)
	}
	r.settled.Store(true)
	return nil
}
