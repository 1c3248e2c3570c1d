-- Attributes of tenants and keys (tenant.Attributes): model aliases and
-- tags are JSON objects of strings; priority is a class name, or '' for
-- none set.

ALTER TABLE tenants ADD COLUMN aliases TEXT NOT NULL DEFAULT '{}' CHECK (json_type(aliases) = 'object');
ALTER TABLE tenants ADD COLUMN priority TEXT NOT NULL DEFAULT '' CHECK (priority IN ('', 'critical', 'interactive', 'batch'));
ALTER TABLE tenants ADD COLUMN tags TEXT NOT NULL DEFAULT '{}' CHECK (json_type(tags) = 'object');

ALTER TABLE keys ADD COLUMN aliases TEXT NOT NULL DEFAULT '{}' CHECK (json_type(aliases) = 'object');
ALTER TABLE keys ADD COLUMN priority TEXT NOT NULL DEFAULT '' CHECK (priority IN ('', 'critical', 'interactive', 'batch'));
ALTER TABLE keys ADD COLUMN tags TEXT NOT NULL DEFAULT '{}' CHECK (json_type(tags) = 'object');
