// Package gateway is Bulwark's request path: Chat, Stream, Embed and Rerank
// (rerank.go; only targets whose provider is an llm.Reranker are tried),
// each straight-line code from the authenticated principal and the decoded
// request to the upstream answer.
//
// A request is resolved to its route, checked against the key's allowed
// models, and served by ONE attempt loop (attempt.go, run) across the
// route's targets, its same-target retries and its fallback aliases. The
// loop is bounded by the alias's max_attempts, the targets available, the
// request deadline and each target's retry budget; every decision in it is
// made from the failure's llm.Kind. A target whose upstream answered rate
// limited or overloaded with a Retry-After cools down for that long (at
// most max_retry_after) for every request of the process: the loop passes
// over it while another target is within reach, a request that got the
// answer fails over at once instead of waiting it out, and one waiting in
// the target's queue leaves it (cooldown.go). Admission, limits,
// guardrails and caching slot into Chat/Stream/Embed around the loop:
// they run once per client request, never once per attempt.
//
// Invariants:
//   - A stream is returned only once an attempt produced its first content
//     (or ended properly without any): until then failures are retried or
//     failed over; after it, a failure ends the stream with an *llm.Error of
//     KindStreamBroken (or the upstream's kind), never with io.EOF.
//   - The same target is never retried on context-length, content-filter,
//     bad-request, auth or not-found failures, nor after a timeout (a silent
//     target is failed over, not retried).
//   - A failed request's error is an *AttemptsError listing every attempt;
//     it unwraps to the most relevant upstream *llm.Error.
//   - Admission control (admit.go, package shed) admits a request once at
//     the process gate, before its quota is reserved, and each attempt at
//     its target's adaptive limit, between the breaker and the call. A
//     refused attempt is no health failure: the loop fails over without
//     retrying that target, and a request every target refused ends with
//     an error that unwraps to the *shed.Error (429 or 503, Retry-After).
//     A stream holds its process slot and its target permit until it ends.
//
// Observation (observe.go) happens in three places, all nil-safe (a
// Gateway built with zero Options records nothing, and spans are made only
// when the request's context carries a recording span):
//   - Chat, Stream and Embed name the request span (telemetry.SetRequest)
//     on entry and, when the call ends, record the request once:
//     telemetry.Metrics.RecordRequest (status from Options.Status, the
//     gateway's duration and upstream time, tokens, attempts, time to first
//     token), telemetry.SetRequestResult on the request span and
//     drift.Detector.Observe (not for an unknown or forbidden alias).
//   - attempt (attempt.go) wraps every upstream call, retries, fallbacks
//     and hedges alike, in a client span (telemetry.StartAttempt/EndAttempt:
//     attempt number, fallback and hedge flags, breaker state, error.type
//     from the llm.Kind) and records it with Metrics.RecordAttempt. The call
//     gets the span's context, so the upstream transport passes its
//     traceparent on.
//   - A returned stream's relay (stream.go) takes over the observation of
//     its successful attempt and of the request: it notes the model, finish
//     reasons and usage of the chunks it relays and records both at io.EOF,
//     at an improper end (the attempt and request then carry its error
//     kind, the status stays 200) or at Close (a client that left early is
//     recorded as canceled).
//
// The request duration recorded here is the gateway's, so its overhead
// (duration less upstream time) leaves out decoding and encoding at the
// API edge; the API edge must not call RecordRequest again.
//
// # Context window (context.go)
//
// Once the route is resolved, and before admission, the prompt is counted
// with package tokens in the encoding of each target's model. A prompt
// that, with its max_tokens, fits the context window of none of the
// route's targets (the alias's context_window, else tokens.Window of the
// target's model) nor of the aliases its fallback_on.context_length leads
// to is refused with a *ContextError (400 context_length_exceeded): no
// attempt is made and nothing is reserved. A target whose window is
// unknown takes any prompt. Embeddings are checked input by input.
//
// # Quota and usage (quota.go)
//
// Once per client request, after its route is resolved and before any
// attempt, the gateway reserves in the Limiter (SetLimiter) one request,
// an estimate of its tokens and one concurrency slot in the scopes of the
// request: its key, its tenant and its alias (config models[].limits, one
// scope for every tenant calling it), each only if it has limits. A
// refusal is a *limit.Error (429 with Retry-After at the API edge); the
// Decision's requests and tokens status travel in Outcome.RateLimit for
// the x-ratelimit-* headers. The tokens reserved are the prompt's count
// (context.go) plus max_tokens (256 when unset) per choice.
//
// When the request ends (request.end, once: at return for Chat and Embed,
// at io.EOF, an improper end or Close for a stream) the reservation is
// committed with the usage the answering upstream reported, or cancelled
// when no upstream answered, and one usage.Record goes to the UsageSink
// (SetUsage), priced with the table in force (SetPrices) by the billing
// rule of package usage: failed attempts are never billed. Retries and
// fallbacks never reserve or record again. The record's RequestID is the
// request's llm.ChatRequest.RequestID (or EmbedRequest's), which the API
// layer sets to its X-Request-Id. A request the server's shutdown cut
// short (its context canceled with ErrShuttingDown as the cause,
// shutdown.go) is recorded as server_shutting_down, not as canceled.
//
// # Budgets (budget.go)
//
// Before the limiter, the request reserves its worst-case cost in the
// budgets of its principal (its key's and its tenant's, as the key set
// loaded them; SetBudgets): its token estimate priced at the greater of
// the input and output rate of the most expensive target it may reach,
// its route's and its fallbacks'. A hard budget's refusal is a
// *usage.BudgetError (429 budget_exceeded, Retry-After until the period
// resets); a soft budget's overage is served and reported to the
// BudgetEvent hook (logs, metrics). The state of the budgets travels in
// Outcome.RateLimit.Budget for the x-bulwark-budget-remaining header. At
// the end the reservation is committed with the cost of the usage record
// (the billing rule), or cancelled when no upstream answered or the
// limiter refused. A failing budget backend does not refuse requests.
//
// # Response cache (cache.go)
//
// Once per client request, after its route is resolved and its prompt
// found to fit, and before admission, a cacheable chat request is looked
// up in the Cache (SetCache; package cache has the key and the in-process
// backend, package redis the shared one). Cacheable: a body, no
// Cache-Control: no-store, and an alias that caches it (config
// models[].cache.exact, else cache.enabled for deterministic requests:
// temperature 0 or a seed); a stream of several choices is not. A hit is
// answered at once, with no attempt, admission, reservation or budget,
// and recorded (usage with CacheHit at cost 0, metrics; not drift); a
// stream hit is a replay of the chunks stored. Only a complete answer is
// stored (cache.Complete: every choice finished with stop, length or
// tool_calls), and for a stream only at its proper end (io.EOF), never
// when it broke, was continued or was closed early. A failing backend is
// a miss: the cache never fails a request. Outcome.Cache says hit or miss
// for the x-bulwark-cache header.
//
// # Semantic cache (semantic.go)
//
// After an exact miss, a request of an alias with cache.semantic that has
// a question (cache.QuestionOf: no tools, one choice, a user's text last)
// has it embedded through Embed, with the SemanticOptions' embedding
// alias, as its tenant and within the timeout, and looked up in the
// SemanticIndex in its bucket (cache.Bucket: tenant, alias, route
// version, mode, embedding model, context and literals). The nearest
// earlier question at least the alias's threshold similar answers it
// with the entry the exact cache stored for it, and Outcome.Cache says
// semantic. The vector travels in the cacheCall; when the request's own
// answer is stored (same rules: complete answers only) it joins the
// index for the answer's TTL. A failed or slow embedding
// (errors{op="embed"}), a failing index or an entry gone is a miss.
//
// # Guardrails (guard.go, guard_stream.go)
//
// Right after its route is resolved, before grounding, a chat request's
// messages go through the alias's input chain (package guard): a block is
// a *guard.Error (400 guardrail_blocked) with no attempt made, a mask
// rewrites req.Messages and req.Body. A successful non-streamed answer
// goes through the output chain before it is cached; a streamed one
// through its pii and denied_terms rules as it streams, with a window
// held back per choice so that matches cut over chunks are masked whole.
// A guard never runs on a failure, so it never turns one into a success.
// The chains are the tenant's own when it has some (guard.Policy.For).
// Checks that call a service get guard.Env from guardEnv: the classifier
// calls its alias through Chat as the request's tenant, with a context
// mark that turns guardrails off for that call (no recursion). Their
// failures follow their rule's on_error: open is a Skipped finding
// (X-Bulwark-Guardrail-Skipped), closed a *guard.UnavailableError (503);
// a stream to an alias whose output chain calls a service is refused
// (*StreamGuardError, 400) before anything is called.
//
// # Tool governance (tools.go, tools_stream.go)
//
// After the input guardrails, a chat request's declared tools go through
// the intersection of the alias's, tenant's and key's allowlists
// (package tools): removed from req.Body, or refused (400
// tool_not_allowed), before grounding, the cache key and any attempt. A
// successful non-streamed answer's tool calls (and a json_schema
// structured output, when the alias validates it) are checked before the
// output guardrails and the cache; a violation gets one re-ask through
// run, with its own max_attempts, then a *tools.Error (502). A streamed
// answer holds tool-call deltas back until their choice finishes and ends
// with the error instead of showing a rejected call. Each call is an
// execute_tool span under the request's.
//
// The routing table can be swapped at any time (config reload); a request
// uses the table it started with.
//
// gateway must not import a backend (SQLite, Postgres, Redis) or a vendor
// package (the OpenAI-compatible client, the simulator, …), not even in
// tests: the composition root wires those in, and tests that need the
// simulator live in the chaos package and in app.
package gateway
