-- The audit log of admin actions; rows are only ever inserted. Times are
-- Unix nanoseconds.

CREATE TABLE audit (
	id            text PRIMARY KEY,
	time_ns       bigint NOT NULL,
	key_id        text NOT NULL,
	tenant_id     text NOT NULL,
	action        text NOT NULL,
	target        text NOT NULL,
	target_tenant text NOT NULL,
	remote        text NOT NULL
);

CREATE INDEX audit_by_time ON audit (time_ns, id);
CREATE INDEX audit_by_tenant ON audit (target_tenant, time_ns, id);
