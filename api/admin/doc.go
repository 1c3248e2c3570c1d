// Package admin is Bulwark's admin API under /admin/v1: tenants and keys
// (with their limits), usage, the audit log, breakers, faults and the
// prompt registry; later models, knowledge bases, jobs and backups.
//
// Handler.Routes returns the handlers keyed by net/http ServeMux patterns.
// Each takes the authenticated Principal as an argument: the server wraps
// every route with authentication and the admin check, so this package
// neither authenticates nor reads anything from the request context.
//
// Invariants:
//   - A key's secret appears in exactly one response, the one that creates
//     the key, and never in a log line; hashes appear nowhere.
//   - A change to keys takes effect on this server before the response is
//     written (the Keyring is reloaded); other replicas see it at their next
//     periodic reload.
//   - A client mistake is a 4xx in OpenAI's error format; store conditions
//     map to 404 (not found) and 409 (already exists).
//   - Every change is logged with the acting key's ID and, when the store
//     is a tenant.Auditor, recorded in the audit log (who, what, when,
//     from where; audit.go).
//   - An admin key of the default tenant administers every tenant; an
//     admin key of another tenant sees and manages only its own tenant's
//     keys, usage and audit entries, and cannot create tenants or change a
//     tenant's limits (scope.go). What it may not see is a 404.
//
// Budgets (budgets.go, NewBudgets) are set, read and removed with PUT, GET
// and DELETE on /admin/v1/tenants/{id}/budget and /admin/v1/keys/{id}/budget;
// GET adds the current period's spending. Changing a tenant's budget is
// an operator action; a tenant's admin key manages its keys' budgets.
//
// Prompts (prompts.go, NewPrompts) are a tenant's versioned templates:
// POST/GET /admin/v1/prompts, GET /admin/v1/prompts/{id}, POST/GET
// …/{id}/versions, GET …/{id}/versions/{n}, PUT/POST and DELETE
// …/{id}/labels/{label}. Versions have no route that changes them. A
// tenant's admin key manages its own tenant's prompts; the operator's
// every tenant's (tenant_id in the query picks one). Every create and
// label move is audited (prompt.create, prompt.version, prompt.label,
// prompt.label.delete) and reloads this replica's prompt cache.
//
// Traffic (traffic.go, NewTraffic) is GET /admin/v1/traffic?window=15m:
// the answering replica's last window (1m to 1h) of requests per alias and
// target and per tenant, in time buckets, for the admin console's charts;
// an operator's route, since it holds every tenant's figures.
//
// This package imports api, tenant, usage, prompt and the standard library; it must not
// import backends (sqlite, postgres), the gateway or vendor packages.
package admin
