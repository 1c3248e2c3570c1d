// Package chunk cuts a parsed document (rag/parse) into the chunks a
// knowledge base embeds, by a chunking_strategy of OpenAI's Vector Stores
// API.
//
// It owns the strategies and their validation: "auto" (static with 800
// and 400), "static" with max_chunk_size_tokens (100 to 4096) and
// chunk_overlap_tokens (0 to half the maximum), as OpenAI defines them,
// and Bulwark's "structure", which keeps a heading with its section,
// packs small sections of one top-level section together, and splits a
// long section by tokens, leading each later piece with its heading path.
// Validate names the bad field of each problem; they are 400 errors.
//
// # Invariants
//
//   - Sizes are cl100k_base tokens, the vocabulary of OpenAI's embedding
//     models. A static chunk has at most max_chunk_size_tokens tokens and
//     starts exactly chunk_overlap_tokens before the end of the one
//     before, except where that would split a character between tokens
//     (then it starts at the character). Every token of the document is in
//     some chunk; no chunk is blank.
//   - Each chunk carries its index, token count, first page, heading path
//     and the SHA-256 of its text, so that re-ingesting a changed file
//     re-embeds only the chunks whose hash changed.
//   - A structure chunk never holds text of two top-level sections.
//
// # Tokens
//
// Packing sections uses the counts of the repository's tokens package. A
// static cut needs each token's place, which tokens (a counter) does not
// give, so cuts use tiktoken-go's cl100k_base encoder over the vocabulary
// tiktoken-go-loader compiles in: the reference that tokens is tested
// against. Its merge is quadratic in the length of one piece, so text is
// encoded in segments cut where the pre-tokenizer always cuts, which
// leaves the tokens unchanged (TestOffsetsMatchTiktoken).
//
// Split is safe for concurrent use.
//
// chunk imports rag/parse and tokens; it must not import the gateway,
// storage or embedding packages.
package chunk
