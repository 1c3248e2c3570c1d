// Package route maps the model aliases clients send to the upstream targets
// that serve them, and chooses among a route's targets.
//
// A Table is immutable once built: a config reload builds a new Table and
// the gateway swaps it in, so a request sees one consistent routing world.
//
// This package imports config and llm only; it must not import vendors or
// backends (the composition root hands it built providers).
package route
