-- Tenants and their virtual keys.

CREATE TABLE tenants (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	created_at TEXT NOT NULL
) STRICT;

-- A key stores the hex SHA-256 of its secret, never the secret.
CREATE TABLE keys (
	id         TEXT PRIMARY KEY,
	tenant_id  TEXT NOT NULL REFERENCES tenants (id),
	name       TEXT NOT NULL,
	prefix     TEXT NOT NULL,
	hash       TEXT NOT NULL UNIQUE
	           CHECK (length(hash) = 64 AND hash NOT GLOB '*[^0-9a-f]*'),
	admin      INTEGER NOT NULL CHECK (admin IN (0, 1)),
	models     TEXT NOT NULL DEFAULT '[]', -- JSON array of model aliases; empty means all
	created_at TEXT NOT NULL,
	expires_at TEXT,
	revoked_at TEXT
) STRICT;

CREATE INDEX keys_by_tenant ON keys (tenant_id, created_at, id);
