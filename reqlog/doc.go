// Package reqlog owns the request log: one Record per client request,
// kept in the store for a retention period so that an operator can find
// out what happened to one request (who sent it, which targets were
// tried and why they failed, how long it took and where the time went)
// without raising the log level or replaying traffic.
//
// It holds the Record type, the Store interface that durable backends
// implement (sqlite/reqlog.go, postgres/reqlog.go; both pass
// reqlogtest.Run), and the Writer that moves records off the request path
// into a Store in batches and prunes what is older than the retention.
//
// # Content capture
//
// A Record carries the prompt messages and the completion text only when
// content capture is on (telemetry.request_log.capture_content; off by
// default, because prompts hold personal data). The request path keeps a
// bounded prefix of each text (Clip: the limit plus a margin, so that a
// secret cut by the limit is still seen whole); the Writer's goroutine
// masks personal data and secrets in it with package redact and cuts it
// to the limit, so that no unmasked text reaches the store and the
// masking costs the request nothing.
//
// # Invariants
//
//   - Writer.Add never blocks: when the queue is full the record is
//     dropped and counted (Stats.Dropped, the
//     bulwark_request_log_dropped_total metric); so is a batch the store
//     refuses. The request log is diagnostic: unlike the usage ledger it
//     does not spill to disk.
//   - A key's secret is never part of a Record: only the key id is.
//   - Store.Requests with Filter.Tenant set sees only that tenant's
//     records.
//   - Records are listed newest first, by (Time, ID), and paginated by a
//     Cursor on that order, so that a page boundary is stable while new
//     records arrive.
//
// This package imports the standard library and redact only; it must not
// import backends, the HTTP layer or the gateway (the gateway imports it).
package reqlog
