// Package route maps the model aliases clients send to the upstream targets
// that serve them, holds each alias's resilience policy (timeouts, retry,
// breaker, balance, hedge, typed fallbacks) with its defaults applied, and
// chooses among a route's targets: weighted random, least outstanding
// (power of two choices) or peak EWMA, skipping targets whose breaker is
// open.
//
// A Table is immutable once built: a config reload builds a new Table and
// the gateway swaps it in, so a request sees one consistent routing world.
// Per-target health (breaker, retry budget, load) lives in a Health keyed by
// provider and model; New carries it over from the previous Table when the
// target and its breaker and budget settings are unchanged, so a reload
// neither closes an open breaker nor forgets latencies.
//
// This package imports config, llm and resilience only; it must not import
// vendors or backends (the composition root hands it built providers).
package route
