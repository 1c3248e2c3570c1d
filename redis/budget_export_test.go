package redis

import "github.com/bulwark-ai/bulwark/usage"

// BudgetReserveAs exposes reserve with a chosen reservation ID, to test
// retries.
var BudgetReserveAs = (*Budgets).reserve

// BudgetAbandonAs cancels reservation id as a caller that gave up on its
// reserve does.
func BudgetAbandonAs(b *Budgets, id string, scopes []usage.Budget) {
	b.abandon(id, b.keys(id, scopes, b.clock()))
}
