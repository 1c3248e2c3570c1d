// Package webhook owns Bulwark's outgoing webhooks: the events that end
// asynchronous work (a batch, a background response, an async chat
// completion), their delivery to the endpoints the configuration names,
// signed per the Standard Webhooks specification, and the delivery log.
//
// Events are an outbox. The store writes an event in the same transaction
// as the change it tells of (a batch or a job reaching its end), so a
// process killed after the change still delivers it. A Dispatcher fans
// each event out into one Delivery for each endpoint that wants its type
// (Store.FanOut, idempotent: a delivery is keyed by event and endpoint)
// and sends the due deliveries. A delivery is at-least-once: a process
// killed mid-send sends it again, with the same webhook-id (the event's
// id), so receivers drop the repeat by id.
//
// A failed send (no answer, or one that is not 2xx) is tried again after
// an exponential backoff with jitter (half the wait fixed, half random),
// or the endpoint's Retry-After when longer, up to Options.MaxAttempts
// attempts; then the delivery is dead. A dead delivery stays in the log
// until an operator retries it (Store.RetryDelivery, the admin API) or
// the retention passes.
//
// The log is kept for a retention: Dispatcher.Purge (run periodically by
// app) deletes the delivered and dead deliveries that ended before a
// time, and the events left with no delivery. Pending deliveries and
// their events are never purged.
//
// The endpoints follow a configuration reload (Dispatcher.SetEndpoints):
// events fanned out after it go to the new endpoints, each attempt is
// signed with its endpoint's secret in force, and a pending delivery to
// an endpoint that is gone is dead at its next attempt.
//
// Signing uses the Standard Webhooks reference library
// (github.com/standard-webhooks/standard-webhooks/libraries): headers
// webhook-id, webhook-timestamp and webhook-signature
// ("v1,<base64 HMAC-SHA256 of id.timestamp.body>"), with a secret
// written "whsec_<base64>". Secrets never reach a log, an error or the
// stored delivery.
//
// webhook must not import a backend (sqlite, postgres), the gateway or
// the HTTP API: app wires the Store in.
package webhook
