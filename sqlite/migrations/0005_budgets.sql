-- Budgets of tenants and keys: an amount in nanodollars per UTC day or
-- month, hard (refuse) or soft (warn). A row names its scope by kind and
-- id; for a key budget, tenant_id is the key's tenant.

CREATE TABLE budgets (
	scope_kind         TEXT NOT NULL CHECK (scope_kind IN ('tenant', 'key')),
	scope_id           TEXT NOT NULL,
	tenant_id          TEXT NOT NULL,
	period             TEXT NOT NULL CHECK (period IN ('day', 'month')),
	amount_nanodollars INTEGER NOT NULL CHECK (amount_nanodollars >= 0),
	hard               INTEGER NOT NULL CHECK (hard IN (0, 1)),
	updated_at         TEXT NOT NULL,
	PRIMARY KEY (scope_kind, scope_id)
) STRICT;
