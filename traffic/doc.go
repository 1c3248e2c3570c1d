// Package traffic keeps the last hour of one replica's client requests in
// memory, in ten-second buckets per alias and target and per tenant, for
// the admin console's live charts (GET /admin/v1/traffic, package ui).
//
// It is fed on the request path from two places: every request Metrics
// records (telemetry.Tap: requests, errors by type, latency, tokens,
// sheds) and every usage record (its cost, which only the usage record
// carries). Each is one short critical section; nothing is allocated once
// a bucket holds the series.
//
// Invariants:
//   - What a Recorder holds is bounded: at most MaxSeries alias/target
//     series and MaxTenants tenants a bucket (later ones are counted under
//     telemetry.Other), and Span/Step buckets.
//   - It is per replica and forgotten at restart: a deployment of N
//     replicas has N views. The usage ledger (GET /admin/v1/usage) is the
//     durable, cluster-wide account.
//   - Latency percentiles are read from a histogram with buckets 20% apart:
//     a percentile is the upper bound of its bucket.
//
// This package imports telemetry, usage and the standard library only.
package traffic
