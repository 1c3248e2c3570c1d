// Package bedrock is the Provider for Amazon Bedrock's runtime API, built
// on the AWS SDK for Go v2: chat through Converse and ConverseStream, and
// embeddings through InvokeModel for Amazon Titan (one call per input) and
// Cohere (batched) embedding models.
//
// It owns the translation between Bulwark's OpenAI format (package oai)
// and Bedrock's: the client's chat request becomes a ConverseInput (system
// and developer messages as system blocks, tool calls and tool results as
// toolUse and toolResult blocks, data: URL images as image blocks, tools as
// toolSpecs, tool_choice as auto/any/tool); the answer becomes an OpenAI
// chat.completion, and each ConverseStream event becomes OpenAI chunks
// written with oai.ChunkEncoder. A request feature Bedrock cannot honour
// (n > 1, logprobs, image URLs that are not data: URLs, json_object) is
// refused with oai.Unsupported rather than dropped. This is also the one
// place where Bedrock's exceptions are inspected and mapped to llm.Kind.
//
// Credentials come from the SDK's default chain (environment, shared
// config and credentials files with an optional profile, web identity,
// container and instance roles) unless Options.Credentials is set. With
// Options.Endpoint set (a simulator, a proxy, a VPC endpoint) and no
// Options.Credentials, New resolves the chain once and, when it holds no
// credentials, signs with the dummy SimAccessKeyID ones and logs a warning
// saying so; without an Endpoint missing credentials stay an
// authentication error on every call. The SDK's own retries are off: retry
// and fallback are the gateway's.
//
// Invariants:
//   - Every error returned is an *llm.Error naming Options.Name and the
//     requested model. Access keys and session tokens never appear in an
//     error, a log line or a String/GoString/LogValue form.
//   - Stream returns once Bedrock has answered and the first output (or
//     the end) has arrived, so that a failure before any output, an
//     in-stream exception included, is returned by Stream itself and can
//     be retried.
//   - A Stream ends with io.EOF only after messageStop and the metadata
//     event; an event stream that ends before them is a cut
//     (KindStreamBroken, BreakCut), a frame that does not decode is
//     BreakMalformed, and an in-stream exception is BreakErrorEvent with
//     the exception's Kind.
//
// Client is safe for concurrent use; a Stream is used by one goroutine, and
// its Close may be called from any goroutine, more than once.
//
// This package imports only package llm and llm/oai of Bulwark's; the
// composition root translates configuration into Options.
package bedrock
