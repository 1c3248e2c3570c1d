// Package vectortest holds the conformance suite that every vector.Store
// backend passes (Run) — the embedded HNSW index now, Postgres with
// pgvector later — and Mixture, the clustered synthetic vectors that the
// suite, the package benchmarks and bench/vectorbench use.
//
// It imports only the standard library and vector; it is imported by
// tests and benchmarks, never by the request path.
package vectortest
