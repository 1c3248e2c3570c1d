// Package openai serves Bulwark's OpenAI-compatible API: chat completions
// (plain and streamed), embeddings, rerank (POST /v1/rerank in Cohere's and
// Jina's shape, which OpenAI's API lacks) and the model list. It decodes and
// validates the wire request, hands the domain request to the gateway and
// writes the answer back in OpenAI's format.
//
// The Responses API (responses*.go) is a Dialect of the chat path: a
// Responses request is translated to a chat request and served exactly as
// a chat completion is, its answer translated back into a Response (and,
// streamed, into the typed response.* events). The conversation is kept in
// a responses.Store for previous_response_id; the file_search tool runs
// retrieval through rag.Service before the model is called.
//
// Invariants:
//   - A client mistake is a 4xx in OpenAI's error format that names the
//     parameter; nothing a client sends reaches an upstream unvalidated or
//     causes a 5xx.
//   - Fields Bulwark does not interpret are not dropped: the client's body
//     travels to OpenAI-compatible upstreams untouched but for the model.
//   - A stream that fails after its first byte ends with an error event and
//     no [DONE]; it is never presented as a complete answer.
//
// This package imports api, gateway, llm, rag, responses and tenant; no
// backend or vendor.
package openai
