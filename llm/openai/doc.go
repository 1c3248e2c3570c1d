// Package openai is the Provider for OpenAI's HTTP API and every server that
// speaks it: OpenAI, Azure OpenAI, vLLM, Ollama, Groq, Together and the like.
//
// It owns the translation between Bulwark's llm types and that wire format:
// the request body rewrite, the SSE stream parser, the embeddings decoder
// (float arrays and base64) and the mapping of vendor errors to llm.Kind.
// This is the one place where vendor status codes, error codes and error
// messages are inspected; everything above it decides from the Kind alone.
//
// Invariants:
//   - The client's request body reaches the upstream byte for byte except
//     for the members Bulwark owns: "model" (the target's model), "stream"
//     and, for streams, "stream_options.include_usage". Member order and
//     every other member, known or not, are preserved.
//   - A response body is returned verbatim; a stream event's Data is the
//     event's JSON verbatim.
//   - Every error returned is an *llm.Error naming Options.Name and the
//     requested model. The API key never appears in an error, a log line or
//     a String/GoString/LogValue form.
//   - A Stream ends with io.EOF only after "data: [DONE]", or after a clean
//     end of the body once a finish_reason was seen; any other end is an
//     *llm.Error of kind stream_broken, timeout or canceled.
//
// Client is safe for concurrent use; a Stream is used by one goroutine, and
// its Close may be called from any goroutine, more than once.
//
// This package imports only the standard library and package llm. It must
// not import the gateway, the API layer, config or any backend: the
// composition root translates configuration into Options.
package openai
