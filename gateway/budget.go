package gateway

import (
	"context"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/usage"
)

// HeaderBudgetRemaining is the response header that says, in US dollars,
// what is left of the most constrained budget of the request's key and
// tenant in its current period.
const HeaderBudgetRemaining = "x-bulwark-budget-remaining"

// BudgetStatus is what the x-bulwark-budget-remaining header says: the
// least headroom among the request's budgets after its reservation, and
// when that budget's period resets.
type BudgetStatus struct {
	Remaining usage.Nanodollars
	Reset     time.Duration
}

// Header formats s for HeaderBudgetRemaining: dollars with nine decimal
// places, exact ("4.250000000").
func (s BudgetStatus) Header() string {
	return strings.TrimPrefix(max(s.Remaining, 0).String(), "$")
}

// BudgetEvent is a budget going over, reported to the hook SetBudgets
// takes, for logs and metrics: a hard budget refusing a request, or a
// soft one serving a request that takes it over.
type BudgetEvent struct {
	Budget usage.Budget
	// Refused is set when a hard budget refused the request.
	Refused bool
	// First is set for the first overage of a soft budget in its period
	// (across replicas when the backend is shared): log it once.
	First bool
	// Err is set when the budget backend failed and the request was served
	// without a budget check; Budget is then zero.
	Err error
	// Settle is set with Err when it was settling the request's
	// reservation that failed: its cost may be missing from the shared
	// counters (the reservation itself lapses with its lease).
	Settle bool
}

// budgeting is a Gateway's budget enforcement (SetBudgets).
type budgeting struct {
	b       usage.Budgets
	onEvent func(BudgetEvent)
}

// SetBudgets sets the budgets requests reserve their worst-case cost in,
// and a hook called for every budget event (nil: none); a nil b enforces
// no budget. It is meant to be called once, before serving.
func (g *Gateway) SetBudgets(b usage.Budgets, onEvent func(BudgetEvent)) {
	if b == nil {
		g.budgets = nil
		return
	}
	if onEvent == nil {
		onEvent = func(BudgetEvent) {}
	}
	g.budgets = &budgeting{b: b, onEvent: onEvent}
}

// budgetScopes returns the budgets of a principal: its key's and its
// tenant's, each only if it has one.
func budgetScopes(p tenant.Principal) []usage.Budget {
	var s []usage.Budget
	if b := p.KeyBudget; !b.IsZero() && p.KeyID != "" {
		b.Kind, b.ID = usage.BudgetKey, p.KeyID
		if b.TenantID == "" {
			b.TenantID = p.TenantID
		}
		s = append(s, b)
	}
	if b := p.TenantBudget; !b.IsZero() && p.TenantID != "" {
		b.Kind, b.ID, b.TenantID = usage.BudgetTenant, p.TenantID, p.TenantID
		s = append(s, b)
	}
	return s
}

// worstCost prices tokens, the request's estimate (prompt plus the
// completion it allows), at the most expensive rate of any target the
// request may reach: its route's targets and those of its fallback
// aliases. Every token is priced at the greater of the input and output
// rates, an upper bound whatever the split between prompt and completion.
func worstCost(prices *usage.Prices, tbl *route.Table, r *route.Route, tokens int) usage.Nanodollars {
	if prices == nil || r == nil || tokens <= 0 {
		return 0
	}
	var worst usage.Nanodollars
	seen := map[string]bool{}
	queue := []*route.Route{r}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if seen[cur.Alias] {
			continue
		}
		seen[cur.Alias] = true
		for _, t := range cur.Targets {
			in, _ := prices.Cost(t.Name(), llm.Usage{PromptTokens: tokens})
			out, _ := prices.Cost(t.Name(), llm.Usage{CompletionTokens: tokens})
			worst = max(worst, in, out)
		}
		if tbl == nil {
			continue
		}
		for _, f := range cur.Fallbacks {
			if fr, ok := tbl.Lookup(f); ok {
				queue = append(queue, fr)
			}
		}
	}
	return worst
}

// reserveBudget reserves the request's worst-case cost in its budgets,
// once, before any attempt. It returns the *usage.BudgetError of a hard
// budget's refusal. A failure of the budget backend does not refuse the
// request: like limits, budgets are a guard, and a BudgetFallback keeps
// enforcing them through an outage of its shared backend.
func (g *Gateway) reserveBudget(ctx context.Context, rq *request, p tenant.Principal, tokens int) error {
	bg := g.budgets
	sc := budgetScopes(p)
	if bg == nil || len(sc) == 0 {
		return nil
	}
	tbl := g.routes.Load()
	r := rq.route
	if r == nil {
		r, _ = tbl.Lookup(rq.alias)
	}
	// No budget is larger than MaxBudget: a worst case beyond it is refused
	// by a hard budget all the same, and a soft one must not pile up
	// reservations that overflow its counters.
	cost := min(worstCost(g.prices.Load(), tbl, r, tokens), usage.MaxBudget)
	res, d, err := bg.b.Reserve(ctx, sc, cost)
	if err != nil {
		if ctx.Err() == nil {
			bg.onEvent(BudgetEvent{Err: err})
		}
		return nil
	}
	if !d.Allowed {
		bg.onEvent(BudgetEvent{Budget: d.Scope, Refused: true})
		return d.Err()
	}
	for _, b := range d.Over {
		first := false
		for _, w := range d.Warn {
			first = first || w.Name() == b.Name()
		}
		bg.onEvent(BudgetEvent{Budget: b, First: first})
	}
	rq.quota.budget = res
	rq.quota.budgetStatus = &BudgetStatus{Remaining: d.Remaining, Reset: d.Reset}
	return nil
}

// reserveBudgetInto reserves the request's budgets (reserveBudget) and
// puts their status in out for the response header.
func (g *Gateway) reserveBudgetInto(ctx context.Context, rq *request, p tenant.Principal, tokens int, out *Outcome) error {
	if err := g.reserveBudget(ctx, rq, p, tokens); err != nil {
		return err
	}
	rq.quota.putBudget(out)
	return nil
}

// putBudget puts the budget status in out, if the request has budgets.
func (q *quota) putBudget(out *Outcome) {
	if q == nil || q.budgetStatus == nil {
		return
	}
	if out.RateLimit == nil {
		out.RateLimit = &RateLimit{}
	}
	out.RateLimit.Budget = q.budgetStatus
}

// settleBudget commits the request's budget reservation with what it
// costs by the billing rule (usage/doc.go): the answering attempt's usage
// priced by its target, nothing when no upstream answered, in which case
// the reservation is cancelled.
func (rq *request) settleBudget(out *Outcome, err error) {
	q := rq.quota
	if q == nil || q.budget == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	var serr error
	if out.Target == nil {
		serr = q.budget.Cancel(ctx)
	} else {
		var cost usage.Nanodollars
		if err == nil {
			cost = q.cost(rq.g.prices.Load(), out)
		}
		serr = q.budget.Commit(ctx, cost)
	}
	if serr != nil && rq.g.budgets != nil {
		rq.g.budgets.onEvent(BudgetEvent{Err: serr, Settle: true})
	}
}
