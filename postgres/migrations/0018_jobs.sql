-- Asynchronous requests (package job): background responses and async
-- chat completions. job is the job's JSON (job.Job); status is the same
-- status, queried. The lease is the claim of the replica running it, by
-- the database's clock. expires_at is when the job is purged.
CREATE TABLE jobs (
	seq         bigserial UNIQUE,
	id          text PRIMARY KEY,
	tenant_id   text NOT NULL,
	status      text NOT NULL,
	job         jsonb NOT NULL,
	expires_at  timestamptz NOT NULL,
	lease_owner text NOT NULL DEFAULT '',
	lease_until timestamptz NOT NULL DEFAULT '-infinity'
);
CREATE INDEX jobs_status ON jobs (status, seq);
CREATE INDEX jobs_expires ON jobs (expires_at);

-- The webhook outbox (package webhook): an event is written in the same
-- transaction as the change it tells of; fanned_out once its deliveries
-- are stored. A delivery is keyed by event and endpoint; delivery is its
-- JSON (webhook.Delivery), next_at when its next attempt is due.
CREATE TABLE webhook_events (
	seq        bigserial UNIQUE,
	id         text PRIMARY KEY,
	type       text NOT NULL,
	tenant_id  text NOT NULL,
	object_id  text NOT NULL,
	created_at timestamptz NOT NULL,
	fanned_out boolean NOT NULL DEFAULT false
);
CREATE INDEX webhook_events_new ON webhook_events (seq) WHERE NOT fanned_out;

CREATE TABLE webhook_deliveries (
	seq      bigserial UNIQUE,
	id       text PRIMARY KEY,
	event_id text NOT NULL,
	endpoint text NOT NULL,
	state    text NOT NULL,
	next_at  timestamptz NOT NULL,
	delivery jsonb NOT NULL,
	UNIQUE (event_id, endpoint)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_at);
