// Package budgettest holds the conformance suite every usage.Budgets
// backend passes (Run): exact at the limit under concurrency, commit and
// cancel, idempotent settling, period rollover, hard and soft budgets,
// leases and seeding from the ledger. The suite drives a settable clock,
// so no test waits for a period to end.
//
// This package imports only the standard library, usage and usagetest;
// it is imported by tests, never by the binary's request path.
package budgettest
