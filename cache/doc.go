// Package cache is Bulwark's exact response cache: the key of a chat
// request (key.go), the cached answer (entry.go) and the in-process
// backend (Memory). The gateway (gateway/cache.go) decides what is looked
// up and what is stored; the Redis backend of the scaled shape is
// redis.Cache. Every backend passes the conformance suite in cachetest.
//
// # The key
//
// A key is the SHA-256 of, each length-prefixed: the mode (chat or
// stream: a streamed answer is replayed as the chunks it was streamed as,
// so the two are cached apart), the tenant, the alias the request was
// routed to, the route's version (its targets' provider/model names, so
// that pointing an alias at another model starts afresh) and the
// canonical hash of the request body. The tenant is part of every key:
// one tenant never gets another's answer.
//
// The canonical hash is the SHA-256 of the body re-encoded canonically:
// object keys sorted, no insignificant white space, numbers written in
// one form (integers as integers, other numbers in Go's shortest
// round-trip form, so 0, 0.0 and 0e0 are one number), strings escaped the
// one way encoding/json escapes them. Everything in the body is part of
// it — messages, tools, tool_choice, response_format, the sampling
// parameters (temperature, top_p, seed, n, max_tokens, stop, penalties,
// logit_bias, logprobs…), reasoning_effort, unknown fields — except the
// top-level fields that do not shape the answer (Unshaping): model (the
// alias stands for it), stream and stream_options (the mode does),
// user, safety_identifier, metadata, store, service_tier,
// prompt_cache_key and prompt_cache_retention. A field absent and the
// same field at its default value hash apart: that costs a miss, never a
// wrong hit.
//
// # Deterministic requests
//
// A request is deterministic (Fingerprint.Deterministic) when its body
// sets temperature to 0 or sets a seed. Only those are cached unless the
// alias opts in (config models[].cache.exact).
//
// # Memory
//
// Memory is a least-recently-used map bounded by bytes (keys, values and a
// fixed overhead per entry), with a TTL per entry. It is hand-rolled on
// container/list rather than taken from hashicorp/golang-lru/v2, which
// bounds entries by count, not bytes (its expirable variant too), or
// from ristretto or otter, whose admission policies may drop a Set and
// whose background goroutines the leak checks would have to be taught
// about; sixty lines of exact LRU are simpler than either.
//
// # Semantic cache
//
// An alias with cache.semantic also answers, after an exact miss, a
// question close enough to an earlier one (semantic.go). A request's
// question (QuestionOf) is the text of its last message, a user's; its
// context is the canonical hash of everything else — system prompt,
// earlier turns, sampling parameters, response format, the last
// message's role and name — so only the question is matched fuzzily.
// Requests with tools, with n above 1, or whose last message is not a
// user's text have none. The question's Literals (numbers, names,
// domains, symbols: what an embedding may not see) must match exactly.
// Tenant, alias, route version, mode, embedding model, context and
// literals make the question's Bucket; the index (MemoryIndex here,
// redis.SemanticIndex in the scaled shape) keeps per bucket the unit
// vectors of the questions whose answers were stored, each with the key
// of its exact entry, and Search returns the nearest at least the
// threshold similar (cosine). A semantic hit is thus always an entry the
// exact cache stored under the rules above, looked up by another key.
//
// MemoryIndex is bounded by bytes (oldest vector first, whatever its
// bucket) and per bucket (newest kept), so a search compares at most
// that many vectors by brute force; vectors expire with their answers.
//
// The threshold is calibrated, not guessed (semantic_calibrate.go,
// `bulwark cache calibrate`): labelled pairs are split by a hash of their
// texts, the threshold is the lowest whose precision's Wilson lower bound
// on one half reaches the target, and it is measured on the other half.
//
// This package imports llm (the answers it holds) and nothing of the
// gateway, the HTTP layer, a store or a vendor.
package cache
