-- Budgets of tenants and keys: an amount in nanodollars per UTC day or
-- month, hard (refuse) or soft (warn). A row names its scope by kind and
-- id; for a key budget, tenant_id is the key's tenant. Times are Unix
-- nanoseconds, as for tenants and keys.

CREATE TABLE budgets (
	scope_kind         text NOT NULL CHECK (scope_kind IN ('tenant', 'key')),
	scope_id           text NOT NULL,
	tenant_id          text NOT NULL,
	period             text NOT NULL CHECK (period IN ('day', 'month')),
	amount_nanodollars bigint NOT NULL CHECK (amount_nanodollars >= 0),
	hard               boolean NOT NULL,
	updated_ns         bigint NOT NULL,
	PRIMARY KEY (scope_kind, scope_id)
);
