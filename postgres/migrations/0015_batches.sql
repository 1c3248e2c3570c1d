-- Batch API jobs (package batch). batch is the job's JSON (batch.Batch:
-- its request, status, times, errors, files); status is the same status,
-- queried. A line's result is a row of batch_results, keyed by the line,
-- so that a line has one result however often a batch is resumed. The
-- lease is the claim of the replica running the batch, by the database's
-- clock.
CREATE TABLE batches (
	seq         bigserial UNIQUE,
	id          text PRIMARY KEY,
	tenant_id   text NOT NULL,
	status      text NOT NULL,
	batch       jsonb NOT NULL,
	lease_owner text NOT NULL DEFAULT '',
	lease_until timestamptz NOT NULL DEFAULT '-infinity'
);
CREATE INDEX batches_tenant ON batches (tenant_id, seq);
CREATE INDEX batches_status ON batches (status);

CREATE TABLE batch_lines (
	batch_id   text NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
	line_index integer NOT NULL,
	custom_id  text NOT NULL,
	url        text NOT NULL,
	body       text NOT NULL,
	PRIMARY KEY (batch_id, line_index)
);

CREATE TABLE batch_results (
	batch_id   text NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
	line_index integer NOT NULL,
	ok         boolean NOT NULL,
	result     text NOT NULL,
	PRIMARY KEY (batch_id, line_index)
);
