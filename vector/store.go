package vector

import (
	"context"
	"errors"
)

// Store is what the knowledge bases need from a vector backend: the
// embedded Index here, and later Postgres with pgvector. It is small on
// purpose, context-aware and error-returning so that a network backend can
// implement it; vectortest.Run checks any implementation.
//
// Vectors are compared by cosine similarity: a backend normalises what it
// is given, and Hit.Score is the cosine of the angle between the query and
// the stored vector (1 is identical direction), so hits are ordered by
// descending Score. Implementations are safe for concurrent use.
type Store interface {
	// Upsert stores items, replacing the vector of a key that is already
	// present; when a key appears twice in items, the later item wins. Every vector must have the store's dimension and a
	// non-zero norm; otherwise nothing in the call is stored and the error
	// wraps ErrDimension or ErrZeroVector.
	Upsert(ctx context.Context, items []Item) error
	// Delete removes keys; keys that are absent are ignored.
	Delete(ctx context.Context, keys []uint64) error
	// Search returns up to k hits nearest to q among the keys f admits,
	// best first. An empty store, or k <= 0, gives no hits and no error.
	Search(ctx context.Context, q []float32, k int, f Filter) ([]Hit, error)
}

// Item is a vector and the key the caller gave it (for knowledge bases, the
// rowid of the chunk in SQLite).
type Item struct {
	Key    uint64
	Vector []float32
}

// Hit is one search result.
type Hit struct {
	Key   uint64
	Score float32 // cosine similarity, higher is nearer
}

// Filter restricts a search. The zero Filter admits every key; when both
// fields are set a key must satisfy both.
type Filter struct {
	// Keys, when non-nil, is the allow-list of keys that may be returned.
	// Every backend can apply it inside the query (pgvector:
	// WHERE id = ANY($1)). An empty non-nil list admits nothing.
	Keys []uint64
	// Match, when non-nil, reports whether a key may be returned. It is
	// called from the searching goroutine, must be fast and safe for
	// concurrent use, and must not call the store. The embedded Index
	// applies it inside the graph search; a remote backend applies it to
	// a widening over-fetch.
	Match func(key uint64) bool
}

// Errors a Store reports.
var (
	// ErrDimension means a vector's length is not the store's dimension.
	ErrDimension = errors.New("vector: dimension mismatch")
	// ErrZeroVector means a vector has zero (or non-finite) norm and so no
	// direction to compare.
	ErrZeroVector = errors.New("vector: zero or non-finite vector")
	// ErrCorrupt means a saved index is truncated, damaged or of an
	// unknown version; the owner rebuilds it from the source of truth.
	ErrCorrupt = errors.New("vector: corrupt index file")
)
