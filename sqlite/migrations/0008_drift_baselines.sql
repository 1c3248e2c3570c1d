-- Drift baselines: the baseline window each model alias's traffic is
-- compared with (package drift), one row per alias, replaced when a new
-- baseline is taken. snapshot is the drift.Snapshot as JSON (its window
-- and bucket counts); taken_at is when it was saved, for operators.

CREATE TABLE drift_baselines (
	alias    TEXT PRIMARY KEY,
	snapshot TEXT NOT NULL,
	taken_at TEXT NOT NULL -- fixed-width RFC 3339 in UTC
) STRICT;
