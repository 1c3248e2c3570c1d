// Package gemini is the Provider for Google's Gemini API (the Generative
// Language API, generativelanguage.googleapis.com/v1beta):
// generateContent, streamGenerateContent with alt=sse, embedContent and
// batchEmbedContents.
//
// Inside Bulwark every chat request, answer and stream chunk is in
// OpenAI's format; this package translates from oai.Request into a
// GenerateContentRequest and from Gemini's answers into OpenAI's through
// package oai (Completion, ChunkEncoder). It is the one place where
// Gemini's finish reasons, error statuses and messages are inspected.
//
// Translation:
//   - system and developer messages become systemInstruction; assistant
//     messages the model's turns, their tool calls functionCall parts; tool
//     messages functionResponse parts (named after the function of the call
//     they answer; the content itself when it is a JSON object, else
//     {"content": text}). Consecutive turns of one role are joined. The
//     thought signatures Gemini puts on function calls have no place in
//     OpenAI's format: calls sent back carry Google's documented stand-in,
//     "skip_thought_signature_validator", which Gemini 3 models require.
//   - images: a base64 data: URL becomes inlineData, an http(s) URL
//     fileData. Audio and file parts are not supported.
//   - tools become functionDeclarations, their JSON Schema sent as
//     parametersJsonSchema; tool_choice auto, none, required and a named
//     function become mode AUTO, NONE, ANY and ANY with
//     allowedFunctionNames. parallel_tool_calls has no Gemini counterpart
//     and is ignored.
//   - response_format json_object and json_schema become responseMimeType
//     application/json (with responseJsonSchema); temperature, top_p,
//     non-zero penalties, max tokens, stop and seed (32 bits) map one to
//     one; n = 1 is candidateCount 1.
//   - what Gemini cannot honour is refused with oai.Unsupported rather
//     than dropped: n > 1, logprobs, continuing a prefix (the Client is not
//     an llm.Continuer), audio and file parts.
//   - finish reasons: STOP is stop (tool_calls when the answer calls a
//     function), MAX_TOKENS length; SAFETY, RECITATION, PROHIBITED_CONTENT,
//     BLOCKLIST, SPII and the image ones content_filter; other reasons are
//     stop. MALFORMED_FUNCTION_CALL and UNEXPECTED_TOOL_CALL are failures
//     (KindServer, retryable). A prompt blocked by promptFeedback is
//     KindContentFilter.
//   - usage: promptTokenCount is the prompt, candidatesTokenCount plus
//     thoughtsTokenCount the completion, cachedContentTokenCount the cached
//     tokens. Embedding answers carry no counts: they are estimated (a
//     token per four bytes) unless the upstream states them.
//
// Invariants:
//   - Every error returned is an *llm.Error naming Options.Name and the
//     requested model. The API key travels only in the x-goog-api-key
//     header, never in a URL, and never appears in an error, a log line or
//     a String/GoString/LogValue form.
//   - Stream returns after the first event (Gemini reports a blocked
//     prompt inside a 200 stream), so that failures before any output are
//     Stream's own. A stream ends with io.EOF only after a clean end of the
//     body once a finish reason was seen (Gemini sends no end marker); any
//     other end is an *llm.Error of kind stream_broken, timeout or
//     canceled, or the Kind of an error object in the stream.
//
// Client is safe for concurrent use; a Stream is used by one goroutine,
// and its Close may be called from any goroutine, more than once.
//
// This package imports only the standard library and packages llm, oai
// and sse. The composition root translates configuration into Options.
package gemini
