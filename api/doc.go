// Package api is Bulwark's HTTP edge: the server's middleware (request id,
// panic recovery, access log, body limit), authentication of virtual keys,
// routing of paths and methods, and the one mapping from errors to HTTP
// statuses in OpenAI's error format (and in Anthropic's, for requests of
// its Messages API: errors_anthropic.go).
//
// Handlers for the OpenAI-compatible API (api/openai), Anthropic's
// Messages API (api/anthropic) and the admin API
// (api/admin) are plain functions of (writer, request, principal); the
// principal is authenticated here and passed explicitly, never through the
// request context.
//
// api imports the domain packages (llm, tenant, gateway) and no backend or
// vendor.
package api
