package gateway

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/usage"
)

// events records budget events.
type events struct {
	mu sync.Mutex
	ev []BudgetEvent
}

func (e *events) add(ev BudgetEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ev = append(e.ev, ev)
}

func (e *events) all() []BudgetEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]BudgetEvent(nil), e.ev...)
}

// budgeted returns governed's gateway with in-memory budgets.
func budgeted(t *testing.T, aFails, bFails int) (*Gateway, *settles, *sink, *usage.MemoryBudgets, *events) {
	g, lim, s := governed(t, aFails, bFails)
	b := usage.NewMemoryBudgets(usage.MemoryBudgetsOptions{})
	ev := &events{}
	g.SetBudgets(b, ev.add)
	return g, lim, s, b, ev
}

func withBudget(amount usage.Nanodollars, hard bool) tenant.Principal {
	p := limited
	p.KeyBudget = usage.Budget{Period: usage.PeriodDay, Amount: amount, Hard: hard}
	return p
}

// worstOf is the worst-case cost governed's "chat" reserves for tokens: a/ma
// at $100 per million tokens, the dearest of its route and fallback.
func worstOf(tokens int) usage.Nanodollars { return usage.Nanodollars(tokens) * 100_000 }

func spentBy(t *testing.T, b usage.Budgets, p tenant.Principal) usage.Spending {
	t.Helper()
	sp, err := b.Spending(t.Context(), budgetScopes(p)[0])
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// a/ma answers with 10 prompt and 5 completion tokens at $100 per million.
const answerCost usage.Nanodollars = 1_500_000

func TestBudgetReservesWorstCaseAndCommitsTheCost(t *testing.T) {
	g, lim, s, b, ev := budgeted(t, 0, 0)
	// Probe the estimate with a generous budget first.
	p := withBudget(usage.MaxBudget, true)
	_, out, err := g.Chat(t.Context(), p, req())
	if err != nil {
		t.Fatal(err)
	}
	worst := worstOf(lim.estimates[0])
	if st := out.RateLimit.Budget; st == nil || st.Remaining != usage.MaxBudget-worst || st.Reset <= 0 {
		t.Fatalf("budget status = %+v; want %d remaining after reserving %d", st, usage.MaxBudget-worst, worst)
	}
	if sp := spentBy(t, b, p); sp.Spent != answerCost || sp.Reserved != 0 || s.all()[0].Cost != answerCost {
		t.Fatalf("spending %+v, record cost %d; want the record's cost %d committed", sp, s.all()[0].Cost, answerCost)
	}

	// A hard budget that fits one more worst case, and not two.
	p = withBudget(answerCost+worst, true)
	if _, _, err := g.Chat(t.Context(), p, req()); err != nil {
		t.Fatalf("a request that fits: %v", err)
	}
	_, out, err = g.Chat(t.Context(), p, req())
	var be *usage.BudgetError
	if !errors.As(err, &be) || be.Scope.Kind != usage.BudgetKey || be.RetryAfter <= 0 || be.Requested != worst {
		t.Fatalf("over a hard budget: %v; want a *usage.BudgetError", err)
	}
	if n := len(lim.estimates); n != 2 {
		t.Errorf("%d limiter reservations; a budget refusal must come before the limiter", n)
	}
	if evs := ev.all(); len(evs) != 1 || !evs[0].Refused || evs[0].Budget.ID != "key_1" {
		t.Errorf("events %+v; want one refusal", evs)
	}
	if recs := s.all(); len(recs) != 3 || recs[2].Cost != 0 || recs[2].Status == usage.StatusOK {
		t.Errorf("refused request recorded as %+v", recs[len(recs)-1])
	}
}

func TestBudgetCancelledWhenNoUpstreamAnswered(t *testing.T) {
	g, _, _, b, _ := budgeted(t, 1, 1)
	p := withBudget(usage.MaxBudget, true)
	if _, _, err := g.Chat(t.Context(), p, req()); err == nil {
		t.Fatal("Chat succeeded; want both targets failed")
	}
	if sp := spentBy(t, b, p); sp.Spent != 0 || sp.Reserved != 0 {
		t.Errorf("spending %+v after a failed request; want nothing", sp)
	}
}

func TestBudgetReleasedWhenTheLimiterRefuses(t *testing.T) {
	g, _, _, b, _ := budgeted(t, 0, 0)
	p := withBudget(usage.MaxBudget, true)
	for range 2 {
		if _, _, err := g.Chat(t.Context(), p, req()); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := g.Chat(t.Context(), p, req()); err == nil {
		t.Fatal("third request within a minute allowed by a limit of 2")
	}
	if sp := spentBy(t, b, p); sp.Spent != 2*answerCost || sp.Reserved != 0 {
		t.Errorf("spending %+v; want two answers and nothing held by the refused request", sp)
	}
}

func TestSoftBudgetServesAndWarnsOnce(t *testing.T) {
	g, _, _, _, ev := budgeted(t, 0, 0)
	p := withBudget(1, false)
	p.KeyLimits = tenant.Limits{}
	for range 3 {
		_, out, err := g.Chat(t.Context(), p, req())
		if err != nil {
			t.Fatalf("over a soft budget: %v; want served", err)
		}
		if st := out.RateLimit.Budget; st == nil || st.Remaining != 0 || st.Header() != "0.000000000" {
			t.Errorf("budget status = %+v; want nothing remaining", st)
		}
	}
	evs := ev.all()
	if len(evs) != 3 || !evs[0].First || evs[1].First || evs[2].First || evs[0].Refused {
		t.Errorf("events %+v; want three overages, the first one marked first", evs)
	}
}

func TestBudgetStreamCommitsAtItsEnd(t *testing.T) {
	g, _, _, b, _ := budgeted(t, 0, 0)
	p := withBudget(usage.MaxBudget, true)
	st, out, err := g.Stream(t.Context(), p, req(), StreamOptions{})
	if err != nil || out.RateLimit == nil || out.RateLimit.Budget == nil {
		t.Fatalf("Stream: %v, %+v", err, out.RateLimit)
	}
	if sp := spentBy(t, b, p); sp.Reserved == 0 || sp.Spent != 0 {
		t.Fatalf("spending %+v while streaming; want reserved, nothing spent", sp)
	}
	for {
		if _, err := st.Recv(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
	}
	_ = st.Close()
	if sp := spentBy(t, b, p); sp.Spent != answerCost || sp.Reserved != 0 {
		t.Errorf("spending %+v after the stream; want %d spent", sp, answerCost)
	}
}

// A budget backend that fails does not refuse requests.
func TestBudgetBackendFailureServes(t *testing.T) {
	g, _, _ := governed(t, 0, 0)
	ev := &events{}
	g.SetBudgets(brokenBudgets{}, ev.add)
	if _, out, err := g.Chat(t.Context(), withBudget(1, true), req()); err != nil || out.RateLimit.Budget != nil {
		t.Errorf("Chat = %v, %+v; want served without a budget status", err, out.RateLimit)
	}
	if evs := ev.all(); len(evs) != 1 || evs[0].Err == nil {
		t.Errorf("events %+v; want the failure reported", evs)
	}
}

type brokenBudgets struct{}

func (brokenBudgets) Reserve(context.Context, []usage.Budget, usage.Nanodollars) (usage.BudgetReservation, usage.BudgetDecision, error) {
	return nil, usage.BudgetDecision{}, errors.New("down")
}

func (brokenBudgets) Spending(context.Context, usage.Budget) (usage.Spending, error) {
	return usage.Spending{}, errors.New("down")
}

func TestWorstCostIncludesFallbacks(t *testing.T) {
	g, _, _ := governed(t, 0, 0)
	prices, err := usage.NewPrices(map[string]usage.Price{"a/ma": {Input: 1, Output: 2}, "b/mb": {Input: 3, Output: 30}})
	if err != nil {
		t.Fatal(err)
	}
	tbl := g.Routes()
	r, _ := tbl.Lookup("chat")
	if got := worstCost(prices, tbl, r, 1000); got != 30_000_000 {
		t.Errorf("worstCost = %d; want 1000 tokens at the fallback's $30 output rate", got)
	}
	if got := worstCost(nil, tbl, r, 1000); got != 0 {
		t.Errorf("worstCost without prices = %d", got)
	}
}

func TestBudgetHeader(t *testing.T) {
	for s, want := range map[BudgetStatus]string{
		{Remaining: 4_250_000_000}: "4.250000000",
		{Remaining: 1}:             "0.000000001",
		{Remaining: -5}:            "0.000000000",
	} {
		if got := s.Header(); got != want {
			t.Errorf("%+v.Header() = %q; want %q", s, got, want)
		}
	}
}

// A worst case beyond any budget reserves MaxBudget, not more: two such
// requests under a soft budget leave its counters exact, not overflowed.
func TestBudgetReservationCappedAtMaxBudget(t *testing.T) {
	g, _, _, b, _ := budgeted(t, 0, 0)
	p := withBudget(1, false)
	p.KeyLimits = tenant.Limits{}
	huge := req()
	huge.MaxTokens = 1 << 50 // callers other than the HTTP API are not bounded at decode
	var streams []interface{ Close() error }
	for range 2 {
		st, _, err := g.Stream(t.Context(), p, huge, StreamOptions{})
		if err != nil {
			t.Fatalf("Stream: %v", err)
		}
		streams = append(streams, st)
	}
	if sp := spentBy(t, b, p); sp.Reserved != usage.MaxBudget+usage.MaxBudget {
		t.Errorf("reserved %d for two unbounded requests; want 2 × MaxBudget (%d)", sp.Reserved, 2*usage.MaxBudget)
	}
	for _, st := range streams {
		_ = st.Close()
	}
	if sp := spentBy(t, b, p); sp.Reserved != 0 {
		t.Errorf("reserved %d after both streams closed; want 0", sp.Reserved)
	}
}

// unsettledBudgets reserves in memory but cannot settle.
type unsettledBudgets struct{ *usage.MemoryBudgets }

type unsettled struct{ usage.BudgetReservation }

func (unsettled) Commit(context.Context, usage.Nanodollars) error {
	return errors.New("down at settle")
}
func (unsettled) Cancel(context.Context) error { return errors.New("down at settle") }

func (b unsettledBudgets) Reserve(ctx context.Context, s []usage.Budget, c usage.Nanodollars) (usage.BudgetReservation, usage.BudgetDecision, error) {
	r, d, err := b.MemoryBudgets.Reserve(ctx, s, c)
	if r != nil {
		r = unsettled{r}
	}
	return r, d, err
}

// A reservation that cannot be settled is reported, not dropped silently:
// its cost may be missing from the shared counters.
func TestBudgetSettleFailureIsReported(t *testing.T) {
	g, _, _ := governed(t, 0, 0)
	ev := &events{}
	g.SetBudgets(unsettledBudgets{usage.NewMemoryBudgets(usage.MemoryBudgetsOptions{})}, ev.add)
	if _, _, err := g.Chat(t.Context(), withBudget(usage.MaxBudget, true), req()); err != nil {
		t.Fatalf("Chat: %v", err)
	}
	if evs := ev.all(); len(evs) != 1 || evs[0].Err == nil || !evs[0].Settle {
		t.Errorf("events %+v; want the settle failure reported", evs)
	}
}
