// Package sim is Bulwark's provider simulator: a fake model vendor with
// realistic latency, output lengths, capacity, rate limits and injected
// faults. It is a product feature in its own right: the built-in sim-chat and
// sim-embed models, the upstream of load benchmarks, the peer of provider
// tests, and the target of chaos game days.
//
// A *Sim serves its models two ways with the same behaviour:
//
//   - in-process, as an llm.Provider (Chat, Stream, Embed) and an
//     llm.Reranker (Rerank), where every
//     failure is an *llm.Error of the Kind a real upstream failure of the
//     same shape would get;
//   - over HTTP, as a standalone OpenAI-compatible API (Handler): chat
//     completions (plain and SSE), embeddings (float and base64), rerank
//     (POST /v1/rerank in Cohere's and Jina's shape, rerank.go), the model
//     list, a fault-control endpoint that replaces a model's faults at
//     runtime, and GET /metrics, which reports each chat model's queue,
//     requests in service and KV-cache usage under vLLM's metric names
//     (metrics.go), so that load-aware routing can be tested against it.
//   - over HTTP in Gemini's form (gemini.go: generateContent, SSE
//     streamGenerateContent, embedContent, batchEmbedContents under
//     /v1beta/models/), where a prompt holding "[sim:safety]" finishes SAFETY;
//   - over HTTP in Anthropic's form (anthropic.go: POST /v1/messages, plain
//     and SSE, with ping and in-band error events) and in Amazon Bedrock's
//     (bedrock.go: converse, converse-stream in the AWS event-stream
//     encoding, and invoke for Titan and Cohere embeddings under
//     /model/{id}/; any SigV4 signature is accepted), each with its
//     vendor's error shapes. Every form answers through the same calls,
//     capacity, limits and faults, so a prompt gets the same answer on each.
//
// What one request goes through, in order:
//
//  1. decoding and validation (400 in OpenAI's error format);
//  2. the model: unknown → 404 model_not_found; a call to a model of
//     another kind (chat, embedding, rerank) → 400 model_not_supported;
//  3. one draw from the model's seeded generator (see Determinism);
//  4. the context window → 400 context_length_exceeded;
//  5. the rolling-minute RPM and TPM limits → 429 with Retry-After and
//     x-ratelimit-* headers;
//  6. capacity: MaxConcurrency slots and a FIFO queue of Queue more; beyond
//     both → OverCapacityStatus at once (code overloaded, no Retry-After);
//  7. the drawn fault, if any (see Faults);
//  8. the answer, paced by the drawn latencies.
//
// Determinism. Each model owns a PCG generator seeded from the simulator's
// seed and the model name. Every request that reaches step 3 takes exactly
// one 64-bit value from it, in arrival order; that value seeds the request's
// own generator, from which its fault and its latencies (TTFT, then one ITL
// per round of tokens) are drawn, and it names the response id. The answer
// itself does not depend on that draw: its text and length are a function of
// (seed, model, messages, request seed, choice index) only, so the same
// prompt always gets the same answer, which cache tests rely on. Embeddings
// are a function of (seed, model, text); rerank scores of (query, document)
// alone (a lexical, BM25-like relevance in [0, 1), rerank.go). Two simulators with the same seed
// and models that receive the same requests in the same order behave
// identically.
//
// Latency. TTFT and ITL are log-normal with median P50 and 99th percentile
// P99; P50 alone is a fixed delay; P50 zero is no delay. A stream waits TTFT
// before its first event and one ITL before each later round of tokens (one
// token of every choice); a plain answer waits TTFT plus all those ITLs, then
// answers at once. An embedding or rerank call waits TTFT.
//
// Tokens. There is no tokenizer: text costs ⌈bytes/4⌉ tokens; a chat prompt
// costs 3 plus, per message, 4 and the tokens of its content and name; an
// embedding input costs its text's tokens; a rerank call costs, per
// document, the tokens of the query and the document. Output tokens are words: every
// emitted word (with its leading space and any full stop) is one token and
// one stream chunk. An answer's length is drawn from OutputTokens (default
// 16 to 64) and cut to max_tokens (finish_reason "length") and to what is
// left of the context window. Stop sequences are accepted and ignored. The
// TPM limit charges a request its prompt tokens plus the completion tokens
// it will produce, when it is admitted.
//
// Rate limits are a rolling minute. On every answer of a model with limits,
// x-ratelimit-limit-*, x-ratelimit-remaining-* and x-ratelimit-reset-* say
// the state after the request; reset-* is the time until the oldest request
// in the window leaves it (on /v1/messages, Anthropic's
// anthropic-ratelimit-requests-* and -tokens-* instead, resets as RFC 3339
// times). A limited request gets Retry-After (whole seconds, rounded up)
// and retry-after-ms: the time until it would fit.
//
// Faults are drawn once per request with a single uniform value: each rate
// is the share of requests that get that fault, the error rates first (by
// ascending status), then the other faults in the order of config.Faults;
// when the rates add up to more than one the earlier faults win. At most one
// fault hits a request. Over HTTP and in-process:
//
//   - error_rates: that status with an OpenAI error body; 429 and 503 carry
//     Retry-After when retry_after is set, and a 429 carries x-ratelimit-*
//     headers (remaining-requests 0 when the model has no limits).
//     In-process: the Kind of the status (llm.KindForStatus).
//   - reset: the connection is closed with a TCP RST before any header.
//     In-process: KindConnection.
//   - hang: no answer until the caller goes away (the slot stays taken).
//     In-process: blocks until ctx ends, then KindTimeout (deadline) or
//     KindCanceled.
//   - slow_first_token: Delay before the first token, or before a plain
//     answer or embedding.
//   - content_filter: 400 with code content_filter. In-process:
//     KindContentFilter.
//   - cut: a stream's connection ends after AfterTokens tokens (an
//     unexpected EOF, never a clean end). A plain answer sends its headers
//     and half of its body, then ends the connection the same way.
//     In-process: Recv returns KindStreamBroken; Chat and Embed return
//     KindConnection.
//   - stall: a stream stops after AfterTokens tokens for Delay (forever when
//     Delay is zero, until the caller goes away), then goes on. A plain
//     answer is delayed by Delay (or never comes). In-process: Recv blocks
//     the same way and reports the context ending as for hang.
//   - malformed: a stream sends one "data: {not json" event after
//     AfterTokens tokens and then goes on as normal. A plain answer is a 200
//     whose body is not JSON. In-process: Recv returns KindStreamBroken;
//     Chat and Embed return KindServer with status 200.
//   - no_done: a stream ends cleanly but without "data: [DONE]"; in-process
//     streams have no such marker, so nothing changes there. Plain answers
//     are not affected.
//   - error_event: a stream sends an in-band error event (a server_error
//     object, as OpenAI sends one) after AfterTokens tokens and ends there,
//     without [DONE]. In-process: Recv returns KindServer with Break
//     llm.BreakErrorEvent. Plain answers are not affected.
//
// A mid-stream fault whose AfterTokens is beyond the answer's length fires
// after the last token, before the finish chunk, so that a drawn fault is
// always observable.
//
// Continuation. A streamed request whose last message is an assistant
// message, with vLLM's continue_final_message true and
// add_generation_prompt false (in-process: llm.ChatRequest.Continue),
// continues that message: its answer is the one the messages without it
// would get, and the stream sends only what comes after as many words as
// the prefill holds (at least one more word). Continued against the same
// model, a prefill cut from an answer therefore ends as that answer would
// have. The completion tokens are the words sent. Whether a Sim is to be
// used for it is declared (SetContinuesPrefix, llm.Continuer); it
// continues when asked either way, as vLLM does.
//
// Scripted replies. A request for one choice whose latest system or user
// message holding "[sim:reply {…}]" directives gets, in OpenAI's form, the
// content and tool calls the k-th directive gives, k being the assistant
// messages after that message (script.go): tests script a model's invalid
// answer and what it says when asked again.
//
// In-process streams always end with the usage chunk (Bulwark's providers
// always ask their upstream for usage); over HTTP it is sent when
// stream_options.include_usage is true.
//
// Invariants:
//   - Every error the llm.Provider methods return is an *llm.Error with
//     Provider set to the simulator's name.
//   - Nothing a client sends makes the handler answer 500 or panic (the only
//     panics are http.ErrAbortHandler, which net/http turns into a closed
//     connection, for the cut fault).
//   - A capacity slot is held from admission until the answer ends, and is
//     given back exactly once, whatever ends it.
//   - The simulator starts no goroutines of its own.
//
// It imports config and llm only, and nothing else of Bulwark's. It is
// written by hand rather than generated from OpenAI's schema because what
// it is for, exact control of timing and failure, is what a generated stub
// cannot give, and because it must stay fast enough not to be the bottleneck
// of the load benchmarks it serves (responses are appended to byte slices
// without reflection; an in-process stream chunk costs two allocations, its
// Data and the Chunk, and a token over HTTP none).
package sim
