// Package tools governs the tools of chat requests and the tool calls of
// their answers: which tools a request may declare (an allowlist of names
// and globs per alias, tenant and key; a tool must be allowed by every
// allowlist that is set), what is done with the others (removed from the
// request, or the request refused), and whether an answer's tool calls
// keep to the policy: only tools the request declared and may use, at
// most MaxCalls of them, with arguments that validate against the JSON
// Schema the request declared. It also checks a structured output (a
// response_format of type json_schema) against its schema, and writes the
// one re-ask a violation may get.
//
// Everything here works on the OpenAI chat format Bulwark speaks inside
// (llm.ChatRequest.Body, llm.ChatResponse.Body), so a policy applies the
// same way to every provider and to the Responses API, which is
// translated to a chat request before it reaches the gateway.
//
// Schemas come from clients: they are compiled with no loader, so a $ref
// can point only inside the schema itself (never at a file or a URL), and
// validation uses Go's linear-time regular expressions.
//
// It imports config and llm only.
package tools
