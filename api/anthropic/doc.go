// Package anthropic serves Anthropic's Messages API in front of Bulwark,
// so that applications and agents built on the Anthropic SDKs use Bulwark
// by changing their base URL: POST /v1/messages (plain and streamed),
// POST /v1/messages/count_tokens, and GET /v1/models in Anthropic's shape
// for a request that carries anthropic-version (OpenAI's otherwise).
//
// Everything inside Bulwark speaks OpenAI's chat format, so a Messages
// request is translated to an OpenAI chat request body, decoded by
// api/openai's own decoder and served through api/openai's Handler
// (ServeChat with a Dialect): the same authentication, limits, budgets,
// admission, priority and deadline headers, failover, request id, access
// log and stream relay as a chat completion. The OpenAI answer is
// translated back: content blocks, stop_reason, usage, and for a stream
// the Messages event sequence.
//
// Invariants:
//   - A client mistake is a 400 invalid_request_error whose message names
//     the field; a feature Bulwark cannot carry over OpenAI's format (top_k,
//     extended thinking, server tools, document blocks) is refused with a
//     400 that names it, never dropped.
//   - Errors are in Anthropic's format with its statuses; Bulwark's 503 for
//     overload is Anthropic's 529 overloaded_error, which the SDKs retry.
//   - A stream that fails after its first byte ends with an "event: error"
//     and no message_stop; it is never presented as a complete answer.
//
// This package imports api, api/openai, gateway, llm, llm/oai, tenant and
// tokens; no backend or vendor.
package anthropic
