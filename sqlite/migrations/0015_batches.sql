-- Batch API jobs (package batch). batch is the job's JSON (batch.Batch:
-- its request, status, times, errors, files); status is the same status,
-- queried. A line's result is a row of batch_results, keyed by the line,
-- so that a line has one result however often a batch is resumed. The
-- lease is the claim of the replica running the batch; lease_until_ns
-- is Unix nanoseconds, 0 no lease.
CREATE TABLE batches (
	id             TEXT PRIMARY KEY,
	tenant_id      TEXT NOT NULL,
	status         TEXT NOT NULL,
	batch          TEXT NOT NULL,
	lease_owner    TEXT NOT NULL DEFAULT '',
	lease_until_ns INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX batches_tenant ON batches (tenant_id);
CREATE INDEX batches_status ON batches (status);

CREATE TABLE batch_lines (
	batch_id   TEXT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
	line_index INTEGER NOT NULL,
	custom_id  TEXT NOT NULL,
	url        TEXT NOT NULL,
	body       TEXT NOT NULL,
	PRIMARY KEY (batch_id, line_index)
) STRICT, WITHOUT ROWID;

CREATE TABLE batch_results (
	batch_id   TEXT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
	line_index INTEGER NOT NULL,
	ok         INTEGER NOT NULL,
	result     TEXT NOT NULL,
	PRIMARY KEY (batch_id, line_index)
) STRICT, WITHOUT ROWID;
