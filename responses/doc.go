// Package responses holds what Bulwark keeps of OpenAI Responses API
// answers so that a later request can continue them (previous_response_id)
// and a client can read or delete them: the Stored record, the Store
// interface its backends implement (sqlite, postgres) and the retention
// rule. The API itself (decoding, translation to a chat request, the
// typed stream events) is api/openai's.
//
// Invariants:
//   - Every record belongs to a tenant and every read and delete names
//     it: another tenant's response is ErrNotFound, exactly as a missing
//     one, so ids leak nothing across tenants.
//   - A record past its ExpiresAt is ErrNotFound even before a purge has
//     removed it.
//   - A record holds the whole conversation up to its answer (Input: the
//     items before it, previous turns included; Output: its own items), so
//     continuing it is one read, and the expiry of an earlier turn does not
//     break a later one.
//
// responses/responsestest is the conformance suite every Store passes.
// This package imports nothing of Bulwark's.
package responses
