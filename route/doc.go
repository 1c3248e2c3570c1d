// Package route maps the model aliases clients send to the upstream targets
// that serve them, holds each alias's resilience policy (timeouts, retry,
// breaker, balance, hedge, typed fallbacks) with its defaults applied, and
// chooses among a route's targets: weighted random, least outstanding
// (power of two choices), peak EWMA or least loaded, skipping targets
// whose breaker is open.
//
// least_loaded is its own policy rather than a change to
// least_outstanding, so that a route's behaviour changes only when its
// configuration asks for it. It uses what the servers behind the targets
// report about themselves (a vLLM server's queue and KV cache, scraped by
// the composition root and read through LoadSource, set with
// Table.UseLoad): targets whose KV cache is more than KVCacheFull used are
// avoided while another has room; among the rest, when every one has a
// fresh report, the target with the fewest waiting plus running requests
// (plus this replica's outstanding calls to it, which a report up to an
// interval old may not show yet) wins. Without fresh reports for every
// candidate it is least outstanding, so a scrape that fails degrades
// routing to what it was without reports, never to a stale picture.
//
// A Table is immutable once built: a config reload builds a new Table and
// the gateway swaps it in, so a request sees one consistent routing world.
// Per-target health (breaker, retry budget, cooldown, load) lives in a
// Health keyed by provider and model; New carries it over from the
// previous Table when the target and its breaker and budget settings are
// unchanged, so a reload neither closes an open breaker, ends a cooldown
// nor forgets latencies. Pick skips open breakers only: whether a
// cooled-down target is passed over depends on what else the request may
// reach, which the gateway's attempt loop decides.
//
// An alias configured with tenants serves only those tenants: LookupFor,
// which the request path and the model list use, does not find it for any
// other, so to them it does not exist. Lookup sees every alias.
//
// This package imports config, llm and resilience only; it must not import
// vendors or backends (the composition root hands it built providers).
package route
