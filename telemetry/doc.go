// Package telemetry owns Bulwark's observability plumbing: the Prometheus
// registry and the metrics the request path records (the OpenTelemetry
// GenAI semantic-convention metrics and Bulwark's own), the OpenTelemetry
// tracer provider with W3C trace-context propagation, and helpers that put
// GenAI attributes on request and attempt spans.
//
// The request path calls small recording methods with plain structs
// (Metrics.RecordRequest, Metrics.RecordAttempt, Metrics.RecordAdmission,
// …) and span helpers (SetRequest, SetAdmission, SetRequestResult,
// StartAttempt, EndAttempt). The metric methods do not allocate (see the
// benchmarks) and do nothing on a nil *Metrics; every one is safe for
// concurrent use. State that other components own (breakers, outstanding
// calls) is mirrored at scrape time through Metrics.OnScrape and
// Metrics.SetTargets rather than on the hot path.
//
// Middleware is the outermost HTTP layer: it continues a client's W3C
// traceparent, starts the request's server span, and counts HTTP requests
// by route. StartAttempt takes its tracer from the span in the context, so
// the request path needs no Tracing handle; Transport (or Inject) passes
// the attempt span's traceparent to the upstream.
//
// Invariants:
//   - Label cardinality is bounded: aliases a client names that the routing
//     table does not know collapse to "other"; tenants and upstream response
//     models are capped; the tenant label can be switched off.
//   - Prompt and completion content is never put on a span unless content
//     capture is explicitly enabled.
//   - Metrics live on a registry of their own, never the global one.
//
// telemetry must not import gateway, api, llm vendor packages or any
// backend; it knows strings and durations, not Bulwark's domain types, so
// that the request path can call it without an import cycle.
package telemetry
