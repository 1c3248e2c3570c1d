-- Tenants and their virtual keys. Times are Unix nanoseconds: timestamptz
-- keeps microseconds, and stored times must round-trip exactly.

CREATE TABLE tenants (
	id         text PRIMARY KEY,
	name       text NOT NULL,
	created_ns bigint NOT NULL
);

-- A key stores the hex SHA-256 of its secret, never the secret.
CREATE TABLE keys (
	id         text PRIMARY KEY,
	tenant_id  text NOT NULL REFERENCES tenants (id),
	name       text NOT NULL,
	prefix     text NOT NULL,
	hash       text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
	admin      boolean NOT NULL,
	models     text[] NOT NULL DEFAULT '{}', -- model aliases; empty means all
	created_ns bigint NOT NULL,
	expires_ns bigint,
	revoked_ns bigint
);

CREATE INDEX keys_by_tenant ON keys (tenant_id, created_ns, id);
