// Package prompt owns the prompt registry: versioned chat templates with
// declared variables and model parameters, owned by a tenant, that
// requests reference by id and version or label instead of sending the
// messages themselves.
//
// # Invariants
//
//   - A prompt belongs to one tenant; its id is unique within the tenant.
//     Requests of a tenant's keys resolve only that tenant's prompts.
//   - Versions are numbered 1, 2, … per prompt and never change or go
//     away once stored (the backends refuse an UPDATE of a version row).
//   - A label (production, staging, …) points at one version of its
//     prompt; moving it is how a prompt is promoted or rolled back.
//     "latest" is not a label: it always means the newest version.
//   - Every placeholder {{name}} of a template is a declared variable
//     (Template.Check); rendering substitutes each once, never expanding
//     placeholders inside a value.
//
// The request path resolves prompts from a Cache — an in-memory copy of
// every prompt and version that each replica reloads when a prompt
// changes and periodically — never from the store, so that prompts keep
// serving while the store is down.
//
// This package imports nothing of the HTTP layer, the gateway or a
// backend; sqlite and postgres implement Store, and prompttest.Run is the
// conformance suite they pass.
package prompt
