// Package admin is Bulwark's admin API under /admin/v1: tenants and keys
// for now, later models, prompts, knowledge bases, jobs, backups and faults.
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
//   - Every change is logged with the acting key's ID.
//
// This package imports api, tenant and the standard library; it must not
// import backends (sqlite, postgres), the gateway or vendor packages.
package admin
