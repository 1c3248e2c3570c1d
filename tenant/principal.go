package tenant

import (
	"context"
	"fmt"
	"slices"

	"github.com/bulwark-ai/bulwark/usage"
)

// Principal is who a request acts as: the tenant and key it authenticated
// with. It is passed explicitly along the request path, never through a
// context.
type Principal struct {
	TenantID string
	KeyID    string
	Admin    bool
	// Models lists the aliases the key may call; empty means all.
	Models []string
	// Priority is the priority class of the key's requests (critical,
	// interactive, batch); empty means interactive. A request may lower
	// its class below it but not raise it above (shed.Resolve).
	Priority string
	// KeyLimits and TenantLimits are the limits of the key and of its
	// tenant, as loaded with the key set; both apply to every request.
	KeyLimits    Limits
	TenantLimits Limits
	// Aliases maps a model name the client sends to the configured alias
	// that serves it: the key's aliases over its tenant's. Nil maps
	// nothing. It is shared with the key set and must not be modified.
	Aliases map[string]string
	// Tags are the key's tags over its tenant's; nil when neither has
	// any. Shared with the key set like Aliases.
	Tags map[string]string
	// KeyTools and TenantTools are the tool allowlists of the key and of
	// its tenant (Attributes.Tools); both apply. Shared with the key set
	// like Aliases.
	KeyTools    []string
	TenantTools []string
	// KeyBudget and TenantBudget are the budgets of the key and of its
	// tenant, as loaded with the key set (zero: none); both apply to every
	// request.
	KeyBudget    usage.Budget
	TenantBudget usage.Budget
}

// BudgetLister is the optional capability of a Store to hold budgets; the
// Keyring loads them with the keys, so a budget set or removed anywhere
// takes effect with the next reload of the key set.
type BudgetLister interface {
	Budgets(ctx context.Context) ([]usage.Budget, error)
}

// budgetsOf returns the budgets s holds by usage.Budget.Name, or nil if s
// holds none.
func budgetsOf(ctx context.Context, s Store) (map[string]usage.Budget, error) {
	bl, ok := s.(BudgetLister)
	if !ok {
		return nil, nil
	}
	bs, err := bl.Budgets(ctx)
	if err != nil {
		return nil, fmt.Errorf("reload keys: %w", err)
	}
	m := make(map[string]usage.Budget, len(bs))
	for _, b := range bs {
		m[b.Name()] = b
	}
	return m, nil
}

// setBudgets fills in p's budgets from budgets (by name).
func (p *Principal) setBudgets(budgets map[string]usage.Budget) {
	p.KeyBudget = budgets[usage.BudgetKey+":"+p.KeyID]
	p.TenantBudget = budgets[usage.BudgetTenant+":"+p.TenantID]
}

// Alias returns the configured alias that serves the model name the client
// sent: its mapping in Aliases, else the name itself.
func (p Principal) Alias(model string) string {
	if a, ok := p.Aliases[model]; ok {
		return a
	}
	return model
}

// Allows reports whether the principal may call the model alias.
func (p Principal) Allows(model string) bool {
	return len(p.Models) == 0 || slices.Contains(p.Models, model)
}
