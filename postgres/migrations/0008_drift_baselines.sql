-- Drift baselines: the baseline window each model alias's traffic is
-- compared with (package drift), one row per alias, replaced when a new
-- baseline is taken. snapshot is the drift.Snapshot as JSON (its window,
-- in nanoseconds, and bucket counts, exact: jsonb numbers are numeric);
-- taken_at is when it was saved, for operators, and never read back.

CREATE TABLE drift_baselines (
	alias    text COLLATE "C" PRIMARY KEY,
	snapshot jsonb NOT NULL,
	taken_at timestamptz NOT NULL
);
