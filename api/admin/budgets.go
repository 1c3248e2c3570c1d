package admin

import (
	"context"
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/usage"
)

// Audited budget actions.
const (
	actionTenantBudget       = "tenant.budget"
	actionTenantBudgetDelete = "tenant.budget.delete"
	actionKeyBudget          = "key.budget"
	actionKeyBudgetDelete    = "key.budget.delete"
)

// BudgetStore is what the budget routes need of the store: the sqlite
// and postgres backends implement it.
type BudgetStore interface {
	SetBudget(ctx context.Context, b usage.Budget) error
	Budget(ctx context.Context, kind, id string) (usage.Budget, error)
	DeleteBudget(ctx context.Context, kind, id string) error
}

// Budgets serves the budgets of tenants and keys. It is safe for
// concurrent use.
type Budgets struct {
	h        *Handler
	store    BudgetStore
	spending usage.Budgets
}

// NewBudgets returns the budget routes of h, storing budgets in store and
// reading the current period's spending from spending (nil: not shown).
// Changes are audited and reloaded like h's other changes.
func NewBudgets(h *Handler, store BudgetStore, spending usage.Budgets) *Budgets {
	return &Budgets{h: h, store: store, spending: spending}
}

// Routes returns the budget routes.
func (b *Budgets) Routes() map[string]HandlerFunc {
	return map[string]HandlerFunc{
		"PUT /admin/v1/tenants/{id}/budget":    b.put(usage.BudgetTenant),
		"GET /admin/v1/tenants/{id}/budget":    b.get(usage.BudgetTenant),
		"DELETE /admin/v1/tenants/{id}/budget": b.delete(usage.BudgetTenant),
		"PUT /admin/v1/keys/{id}/budget":       b.put(usage.BudgetKey),
		"GET /admin/v1/keys/{id}/budget":       b.get(usage.BudgetKey),
		"DELETE /admin/v1/keys/{id}/budget":    b.delete(usage.BudgetKey),
	}
}

// budgetRequest is the body of PUT …/budget. The amount is given in
// dollars or in nanodollars, exactly one of them.
type budgetRequest struct {
	AmountUSD         *float64 `json:"amount_usd"`
	AmountNanodollars *int64   `json:"amount_nanodollars"`
	// Period is day or month (UTC calendar periods).
	Period string `json:"period"`
	// Hard refuses requests over the budget (429 budget_exceeded); soft,
	// the default, serves them, logs a warning once per period and counts
	// them in a metric.
	Hard bool `json:"hard"`
}

// amount validates the request's amount.
func (req budgetRequest) amount() (usage.Nanodollars, error) {
	maxUSD := usage.MaxBudget.Dollars()
	switch {
	case req.AmountUSD != nil && req.AmountNanodollars != nil:
		return 0, api.BadRequest("amount_usd", "give amount_usd or amount_nanodollars, not both")
	case req.AmountUSD != nil:
		v := *req.AmountUSD
		if math.IsNaN(v) || v < 0 || v > maxUSD {
			return 0, api.BadRequest("amount_usd", "amount_usd must be between 0 and %.0f dollars", maxUSD)
		}
		return usage.Nanodollars(math.Round(v * 1e9)), nil
	case req.AmountNanodollars != nil:
		v := *req.AmountNanodollars
		if v < 0 || v > int64(usage.MaxBudget) {
			return 0, api.BadRequest("amount_nanodollars", "amount_nanodollars must be between 0 and %d", int64(usage.MaxBudget))
		}
		return usage.Nanodollars(v), nil
	}
	return 0, api.BadRequest("amount_usd", "amount_usd is required: the dollars that may be spent per period")
}

// budgetObject is a budget on the wire, with its current period's
// spending when it is known.
type budgetObject struct {
	Object            string       `json:"object"`
	Scope             string       `json:"scope"`
	ID                string       `json:"id"`
	TenantID          string       `json:"tenant_id"`
	Period            usage.Period `json:"period"`
	AmountNanodollars int64        `json:"amount_nanodollars"`
	AmountUSD         float64      `json:"amount_usd"`
	Hard              bool         `json:"hard"`
	UpdatedAt         time.Time    `json:"updated_at"`

	PeriodStart         *time.Time `json:"period_start,omitempty"`
	PeriodEnd           *time.Time `json:"period_end,omitempty"`
	SpentNanodollars    *int64     `json:"spent_nanodollars,omitempty"`
	SpentUSD            *float64   `json:"spent_usd,omitempty"`
	ReservedNanodollars *int64     `json:"reserved_nanodollars,omitempty"`
	ReservedUSD         *float64   `json:"reserved_usd,omitempty"`
}

// object returns bu on the wire with its spending, if it can be read.
func (b *Budgets) object(r *http.Request, bu usage.Budget) budgetObject {
	o := budgetObject{
		Object: "budget", Scope: bu.Kind, ID: bu.ID, TenantID: bu.TenantID, Period: bu.Period,
		AmountNanodollars: int64(bu.Amount), AmountUSD: bu.Amount.Dollars(), Hard: bu.Hard, UpdatedAt: bu.UpdatedAt,
	}
	if b.spending == nil {
		return o
	}
	sp, err := b.spending.Spending(r.Context(), bu)
	if err != nil {
		b.h.log.WarnContext(r.Context(), "admin: reading a budget's spending failed", "budget", bu.Name(), "err", err)
		return o
	}
	spent, reserved := int64(sp.Spent), int64(sp.Reserved)
	spentUSD, reservedUSD := sp.Spent.Dollars(), sp.Reserved.Dollars()
	o.PeriodStart, o.PeriodEnd = &sp.PeriodStart, &sp.PeriodEnd
	o.SpentNanodollars, o.SpentUSD, o.ReservedNanodollars, o.ReservedUSD = &spent, &spentUSD, &reserved, &reservedUSD
	return o
}

// scope checks the path's id and that p may see it (and, with change,
// change its budget), and returns the scope's tenant.
func (b *Budgets) scope(r *http.Request, p tenant.Principal, kind string, change bool) (id, tenantID string, err error) {
	id = r.PathValue("id")
	if kind == usage.BudgetTenant {
		if err := checkTenantID("id", id); err != nil {
			return "", "", err
		}
		if change && !operator(p) {
			return "", "", operatorOnly("change a tenant's budget")
		}
		if !canSee(p, id) {
			return "", "", notFound(describe("tenant", id))
		}
		if _, err := b.h.store.Tenant(r.Context(), id); err != nil {
			return "", "", storeError(err, describe("tenant", id))
		}
		return id, id, nil
	}
	if err := checkKeyID(id); err != nil {
		return "", "", err
	}
	k, err := b.h.visibleKey(r, p, id)
	if err != nil {
		return "", "", err
	}
	return id, k.TenantID, nil
}

func (b *Budgets) put(kind string) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
		id, tenantID, err := b.scope(r, p, kind, true)
		if err != nil {
			b.h.fail(w, r, p, err)
			return
		}
		var req budgetRequest
		if err := decode(w, r, &req); err != nil {
			b.h.fail(w, r, p, err)
			return
		}
		amount, err := req.amount()
		if err != nil {
			b.h.fail(w, r, p, err)
			return
		}
		period, err := usage.ParsePeriod(req.Period)
		if err != nil {
			b.h.fail(w, r, p, api.BadRequest("period", "period must be day or month, not %q", req.Period))
			return
		}
		bu := usage.Budget{Kind: kind, ID: id, TenantID: tenantID, Period: period, Amount: amount, Hard: req.Hard, UpdatedAt: b.h.now().UTC()}
		if err := b.store.SetBudget(r.Context(), bu); err != nil {
			b.h.fail(w, r, p, err)
			return
		}
		if err := b.h.reload(r); err != nil {
			b.h.fail(w, r, p, err)
			return
		}
		b.h.log.InfoContext(r.Context(), "admin: budget set", "by_key", p.KeyID, "budget", bu.Name(),
			"period", string(bu.Period), "amount", bu.Amount.String(), "hard", bu.Hard)
		b.h.audit(r, p, map[string]string{usage.BudgetTenant: actionTenantBudget, usage.BudgetKey: actionKeyBudget}[kind], id, tenantID)
		api.WriteJSON(w, http.StatusOK, b.object(r, bu))
	}
}

func (b *Budgets) get(kind string) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
		id, _, err := b.scope(r, p, kind, false)
		if err != nil {
			b.h.fail(w, r, p, err)
			return
		}
		bu, err := b.store.Budget(r.Context(), kind, id)
		if err != nil {
			b.h.fail(w, r, p, budgetError(err, kind, id))
			return
		}
		api.WriteJSON(w, http.StatusOK, b.object(r, bu))
	}
}

func (b *Budgets) delete(kind string) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
		id, tenantID, err := b.scope(r, p, kind, true)
		if err != nil {
			b.h.fail(w, r, p, err)
			return
		}
		if err := b.store.DeleteBudget(r.Context(), kind, id); err != nil {
			b.h.fail(w, r, p, budgetError(err, kind, id))
			return
		}
		if err := b.h.reload(r); err != nil {
			b.h.fail(w, r, p, err)
			return
		}
		b.h.log.InfoContext(r.Context(), "admin: budget removed", "by_key", p.KeyID, "budget", kind+":"+id)
		b.h.audit(r, p, map[string]string{usage.BudgetTenant: actionTenantBudgetDelete, usage.BudgetKey: actionKeyBudgetDelete}[kind], id, tenantID)
		api.WriteJSON(w, http.StatusOK, map[string]any{"object": "budget.deleted", "scope": kind, "id": id, "deleted": true})
	}
}

// budgetError turns usage.ErrNoBudget into a 404.
func budgetError(err error, kind, id string) error {
	if errors.Is(err, usage.ErrNoBudget) {
		return api.Errorf(http.StatusNotFound, api.TypeNotFound, "not_found", "%s has no budget", describe(kind, id))
	}
	return err
}
