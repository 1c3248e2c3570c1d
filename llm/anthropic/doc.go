// Package anthropic is the Provider for Anthropic's Messages API
// (POST /v1/messages).
//
// It translates both ways between Bulwark's inside format, OpenAI's chat
// format (through package oai), and Anthropic's: the client's request is
// read with oai.ParseRequest and rewritten as a Messages API request; the
// answer, a Message or its event stream, is written back as an OpenAI
// chat.completion (oai.Completion) or chat.completion.chunk events
// (oai.ChunkEncoder). Anthropic's status codes, error types and messages
// are inspected here and nowhere else.
//
// Mapping, request side:
//   - system and developer messages become the top-level system (one text
//     block each, wherever they stood); consecutive messages of the same
//     role are merged; an assistant's tool calls become tool_use blocks
//     (the arguments, JSON text, become the input object) and tool
//     messages become tool_result blocks of a user message; images become
//     image blocks (a data: URL a base64 source, an http(s) URL a url
//     source);
//   - tools, tool_choice (auto→auto, none→none, required→any,
//     function→tool), parallel_tool_calls false
//     (disable_parallel_tool_use), stop (stop_sequences), temperature
//     (clamped to Anthropic's 0 to 1), top_p, user (metadata.user_id) and
//     max_tokens (Options.DefaultMaxTokens when the client sent none);
//   - a trailing assistant message is a prefill, which Anthropic
//     continues: a Continue request (llm.Continuer) streams only the rest
//     of the answer. Trailing whitespace is trimmed from it, which
//     Anthropic refuses;
//   - refused with oai.Unsupported (a 400 naming the feature): n > 1,
//     logprobs, response_format json_object and json_schema, audio and
//     file parts, images of a media type Anthropic does not read;
//   - dropped: seed, presence_penalty, frequency_penalty and every field
//     Bulwark does not type (logit_bias, …), which Anthropic has no form of.
//
// Response side: text blocks are the content, tool_use blocks the tool
// calls; stop reasons end_turn, stop_sequence and pause_turn are "stop",
// max_tokens "length", tool_use "tool_calls", refusal "content_filter".
// Usage: prompt tokens are input_tokens plus the cache reads and writes,
// cached tokens the cache reads.
//
// Rate limits: every answer's anthropic-ratelimit-* headers (requests-*,
// and tokens-* or else the input-tokens-*/output-tokens-* limit with fewer
// tokens remaining; resets are RFC 3339 times) become an llm.RateLimit,
// reported by Client.RateLimit for the model and, on a failure, in
// llm.Error.RateLimit, as llm/openai does with x-ratelimit-*: the gateway's
// admission control paces the target from it. A 429's retry-after is
// llm.Error.RetryAfter.
//
// Invariants:
//   - Every error returned is an *llm.Error naming Options.Name and the
//     requested model. The API key never appears in an error, a log line or
//     a String/GoString/LogValue form.
//   - A Stream yields the role chunk first, then content, the finish chunk
//     and the usage chunk; it ends with io.EOF only after message_stop, or
//     after a clean end of the body once the stop reason was seen; any
//     other end is an *llm.Error (stream_broken, timeout, canceled, or the
//     kind of an in-band error event).
//
// Client is safe for concurrent use; a Stream is used by one goroutine, and
// its Close may be called from any goroutine, more than once.
//
// This package imports only the standard library and packages llm, llm/oai
// and llm/sse. It must not import the gateway, the API layer, config or any
// backend: the composition root translates configuration into Options.
package anthropic
