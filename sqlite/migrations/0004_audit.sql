-- The audit log of admin actions; rows are only ever inserted.

CREATE TABLE audit (
	id            TEXT PRIMARY KEY,
	time          TEXT NOT NULL,
	key_id        TEXT NOT NULL,
	tenant_id     TEXT NOT NULL,
	action        TEXT NOT NULL,
	target        TEXT NOT NULL,
	target_tenant TEXT NOT NULL,
	remote        TEXT NOT NULL
) STRICT;

CREATE INDEX audit_by_time ON audit (time, id);
CREATE INDEX audit_by_tenant ON audit (target_tenant, time, id);
