// Package drift watches, per model alias, how traffic and answers are
// distributed — prompt tokens, output tokens, latency, finish reasons and
// error kinds, and for aliases grounded in knowledge bases the best
// retrieval score, the chunks given to the model and each query
// embedding's cosine distance to the centroid of the baseline window's
// queries (the window's own until a baseline exists) — and scores how far the rolling window has moved from a
// baseline window with the population stability index (PSI), so that a
// change in how users use a model, or in what it returns, shows up before
// customers report it.
//
// Each distribution has fixed buckets (numeric edges or a fixed list of
// categories with "other"), so memory per alias is constant. The rolling
// window is a ring of slots; the baseline is the first full window seen
// for an alias unless one is loaded (SetBaseline) or taken again
// (Rebaseline).
//
// Baselines are plain values (Snapshot) that round-trip through JSON
// exactly, and a BaselineStore keeps them across restarts, so that a
// restart — or a deploy that changes the model — is compared against the
// stored baseline instead of becoming the new one. Options.OnBaseline is
// called with every baseline the Detector takes (not with those loaded):
// on the goroutine that took it, after the Detector's locks are released,
// one call at a time per alias in the order taken. Observe may take a
// baseline, so OnBaseline runs on the request path and must hand slow
// work, such as the store write, to another goroutine. Package drifttest
// holds the BaselineStore conformance suite.
//
// A PSI below 0.1 is commonly read as no significant change, 0.1 to 0.25 as
// a moderate shift and above 0.25 as a significant one.
//
// Detector is safe for concurrent use and exports its scores as Prometheus
// metrics (it is a prometheus.Collector). drift must not import gateway,
// api, telemetry or any backend: the request path feeds it Observations.
package drift
