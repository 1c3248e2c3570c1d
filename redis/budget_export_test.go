package redis

// BudgetReserveAs exposes reserve with a chosen reservation ID, to test
// retries.
var BudgetReserveAs = (*Budgets).reserve
