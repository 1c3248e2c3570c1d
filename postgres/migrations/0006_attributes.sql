-- Attributes of tenants and keys (tenant.Attributes): model aliases and
-- tags are JSON objects of strings; priority is a class name, or '' for
-- none set.

ALTER TABLE tenants
	ADD COLUMN aliases  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(aliases) = 'object'),
	ADD COLUMN priority text  NOT NULL DEFAULT '' CHECK (priority IN ('', 'critical', 'interactive', 'batch')),
	ADD COLUMN tags     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(tags) = 'object');

ALTER TABLE keys
	ADD COLUMN aliases  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(aliases) = 'object'),
	ADD COLUMN priority text  NOT NULL DEFAULT '' CHECK (priority IN ('', 'critical', 'interactive', 'batch')),
	ADD COLUMN tags     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(tags) = 'object');
