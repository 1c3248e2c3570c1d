-- Tool allowlists of tenants and keys (tenant.Attributes.Tools): a JSON
-- array of tool names and globs; an empty array allows every tool.

ALTER TABLE tenants
	ADD COLUMN tools jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tools) = 'array');

ALTER TABLE keys
	ADD COLUMN tools jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tools) = 'array');

-- What tool governance did to a request (reqlog.Record.Tools); NULL when
-- none applied.
ALTER TABLE request_log ADD COLUMN tools jsonb;
