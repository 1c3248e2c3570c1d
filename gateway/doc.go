// Package gateway is Bulwark's request path: Chat, Stream and Embed, each
// straight-line code from the authenticated principal and the decoded
// request to the upstream answer.
//
// Today a request is resolved to its route, checked against the key's
// allowed models, and forwarded once to a target chosen by weight.
// Admission, limits, guardrails, caching and the bounded attempt loop slot
// into the same functions in the order ARCHITECTURE.md gives; they run once
// per client request, never once per attempt.
//
// The routing table can be swapped at any time (config reload); a request
// uses the table it started with.
//
// gateway must not import a backend (sqlite, postgres, redis) or a vendor
// package (llm/openai, llm/sim, …): the composition root wires those in.
package gateway
