// Package vector owns Bulwark's embedded vector index, the approximate
// nearest-neighbour search behind knowledge bases: the Store interface a
// knowledge base searches through (implemented here by Index, and later
// by Postgres with pgvector), the HNSW graph, int8 vector quantization, and
// the index's file format.
//
// # Algorithm
//
// Index is a hierarchical navigable small world graph (HNSW, Malkov &
// Yashunin 2016): M=16 links per node on upper levels and 2M on the
// bottom one, efConstruction=200, efSearch 128 by default and per query
// through SearchOptions.Ef. New links are chosen with the paper's
// diversity heuristic, and a full list is re-pruned with it.
//
// Similarity is cosine: vectors and queries are L2-normalised on the way
// in and Hit.Score is their dot product. Each stored vector is kept only
// as int8 codes with one float32 scale (scalar quantization per vector,
// see quant.go): 384 bytes instead of 1,536 at 384 dimensions. Searches
// score the float query against the codes (asymmetric distance), whose
// error (~1e-3) is small next to the gaps between neighbours of embedding
// data: an exact scan of the codes finds 99.4% of the true float top 10
// on the 1M-vector benchmark, so no float copy is kept, in memory or on
// disk, and nothing is re-ranked. (Data with a few dominant coordinates
// quantizes worse: raw Fashion-MNIST pixels cap at 96.4%. Re-ranking the
// top candidates from float16 copies would lift that, at 2 bytes per
// dimension, if such data ever matters.) Inserts score with int8·int8
// products.
//
// Nodes have dense uint32 ids in insertion order and live in chunks of
// 1024 (codes, scales, keys, levels, tombstones, and the bottom-level
// adjacency as one flat []uint32 with a count per node); upper levels,
// which hold 1/M of the nodes, have a []uint32 per node. There are no
// maps or pointers per node except the key→id map. At 1M × 384 this is
// about 600 MB in all; chunks never move, so growth never copies the
// index. The inner products run in AVX2 assembly on amd64 when the CPU has
// it (build tag purego, or another architecture, gives the Go loops).
//
// # Filters
//
// A filter is applied inside the search: nodes that fail it are still
// walked through, but only matching nodes enter the results, and the beam
// keeps widening until it holds ef matches. If that takes more than a
// budget of expansions (16·ef), as a very selective filter does, or the
// graph yields fewer than k matches, the search falls back to an exact
// scan of the matching nodes. A caller that already knows its candidate
// keys passes them as Filter.Keys and they are scored exactly.
//
// # Invariants
//
//   - Index is safe for concurrent use; searches never wait for writers
//     except for a node's adjacency lock. Lock order: Index.writes,
//     graph.mu, one of graph.locks.
//   - A node's code, key and level are written once before its id is
//     reachable; only its links and its tombstone change afterwards.
//   - Deleted and replaced vectors are tombstones: never returned, still
//     traversed. Compact rebuilds the graph without them (NeedsCompact
//     says when their share passes Options.CompactAt); the owner calls it.
//   - Save writes a versioned, CRC-32C-checked file atomically (temporary
//     file, fsync, rename, fsync of the directory). Load returns an error
//     wrapping ErrCorrupt — never panics — for a truncated or damaged
//     file, and the owner then rebuilds from SQLite, the source of truth.
//     Watermark is the highest key ever added, so the owner replays only
//     rows above it after a successful Load; Keys lists the stored keys,
//     so it can drop those it deleted since the save.
//
// # Why it is hand-rolled
//
// The one HNSW library for Go the module proxy serves here,
// github.com/coder/hnsw (v0.6.1), keeps every vector as []float32 (1.5 GB
// at 1M × 384 before any graph), holds each node's neighbours in a map of
// pointers, and has neither filtered search nor quantization, so it cannot
// meet the 1.5 GiB bound for a million vectors. The index here is about
// 1,600 lines with its file format and assembly, plus tests.
//
// vector imports only the standard library and golang.org/x/sys/cpu. It
// must not import SQLite, the knowledge-base package, the gateway or any
// HTTP code: the knowledge base owns an Index and feeds it rows.
package vector
