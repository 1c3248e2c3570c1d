// Package llm holds the domain types every part of the request path speaks:
// chat and embedding requests and responses, stream chunks, token usage, the
// typed upstream error and the Provider interface that vendor packages
// implement, with its optional capabilities found by type assertion
// (Continuer; Reranker, with RerankRequest and RerankResponse).
//
// The wire format of Bulwark's public API is OpenAI's, and it is also the
// lingua franca inside: a ChatResponse and a Chunk carry their OpenAI-format
// JSON (Body, Data) next to the few parsed fields the gateway decides on
// (usage, finish reasons, the model that answered). An OpenAI-compatible
// upstream is therefore relayed byte for byte, fields Bulwark does not know
// included, and a vendor with another format (Anthropic, Bedrock, Gemini)
// translates into it once, in its own package.
//
// Invariants:
//   - Every failure a Provider returns is an *Error with a Kind; retry and
//     fallback decisions are made from the Kind, never from message text.
//   - A Stream delivers chunks in order and ends with io.EOF only when the
//     upstream ended the stream properly; any other ending is an *Error.
//
// This package imports nothing of Bulwark's.
package llm
