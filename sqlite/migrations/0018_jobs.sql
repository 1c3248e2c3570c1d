-- Asynchronous requests (package job): background responses and async
-- chat completions. job is the job's JSON (job.Job); status is the same
-- status, queried. The lease is the claim of the process running it;
-- lease_until_ns is Unix nanoseconds, 0 no lease. expires_ns is when the
-- job is purged.
CREATE TABLE jobs (
	id             TEXT PRIMARY KEY,
	tenant_id      TEXT NOT NULL,
	status         TEXT NOT NULL,
	job            TEXT NOT NULL,
	created_ns     INTEGER NOT NULL,
	expires_ns     INTEGER NOT NULL,
	lease_owner    TEXT NOT NULL DEFAULT '',
	lease_until_ns INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX jobs_status ON jobs (status, created_ns);
CREATE INDEX jobs_expires ON jobs (expires_ns);

-- The webhook outbox (package webhook): an event is written in the same
-- transaction as the change it tells of; fanned_out once its deliveries
-- are stored. A delivery is keyed by event and endpoint; delivery is its
-- JSON (webhook.Delivery), next_ns when its next attempt is due.
CREATE TABLE webhook_events (
	id         TEXT PRIMARY KEY,
	type       TEXT NOT NULL,
	tenant_id  TEXT NOT NULL,
	object_id  TEXT NOT NULL,
	created_ns INTEGER NOT NULL,
	fanned_out INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX webhook_events_new ON webhook_events (fanned_out, created_ns);

CREATE TABLE webhook_deliveries (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	id       TEXT NOT NULL UNIQUE,
	event_id TEXT NOT NULL,
	endpoint TEXT NOT NULL,
	state    TEXT NOT NULL,
	next_ns  INTEGER NOT NULL,
	delivery TEXT NOT NULL,
	UNIQUE (event_id, endpoint)
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_ns);
