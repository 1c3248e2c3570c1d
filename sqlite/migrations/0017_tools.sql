-- Tool allowlists of tenants and keys (tenant.Attributes.Tools): a JSON
-- array of tool names and globs; an empty array allows every tool.

ALTER TABLE tenants ADD COLUMN tools TEXT NOT NULL DEFAULT '[]' CHECK (json_type(tools) = 'array');
ALTER TABLE keys ADD COLUMN tools TEXT NOT NULL DEFAULT '[]' CHECK (json_type(tools) = 'array');

-- What tool governance did to a request (reqlog.Record.Tools), as JSON;
-- NULL when none applied.
ALTER TABLE request_log ADD COLUMN tools TEXT;
