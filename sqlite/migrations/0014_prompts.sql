-- The prompt registry (package prompt): a tenant's prompts, their
-- immutable versions and the labels that point at versions. template is
-- the version's JSON (prompt.Template: messages, variables, params).
-- Versions are never updated (a trigger refuses it) nor deleted; a label
-- moves by replacing its row.

CREATE TABLE prompts (
	tenant_id   TEXT NOT NULL REFERENCES tenants (id),
	id          TEXT NOT NULL,
	description TEXT NOT NULL,
	latest      INTEGER NOT NULL,
	created_at  TEXT NOT NULL,
	created_by  TEXT NOT NULL,
	PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE TABLE prompt_versions (
	tenant_id  TEXT NOT NULL,
	prompt_id  TEXT NOT NULL,
	version    INTEGER NOT NULL CHECK (version >= 1),
	template   TEXT NOT NULL,
	note       TEXT NOT NULL,
	created_at TEXT NOT NULL,
	created_by TEXT NOT NULL,
	PRIMARY KEY (tenant_id, prompt_id, version),
	FOREIGN KEY (tenant_id, prompt_id) REFERENCES prompts (tenant_id, id)
) STRICT;

CREATE TRIGGER prompt_versions_immutable BEFORE UPDATE ON prompt_versions
BEGIN
	SELECT RAISE(ABORT, 'prompt versions are immutable');
END;

CREATE TABLE prompt_labels (
	tenant_id  TEXT NOT NULL,
	prompt_id  TEXT NOT NULL,
	label      TEXT NOT NULL,
	version    INTEGER NOT NULL,
	updated_at TEXT NOT NULL,
	PRIMARY KEY (tenant_id, prompt_id, label),
	FOREIGN KEY (tenant_id, prompt_id, version) REFERENCES prompt_versions (tenant_id, prompt_id, version)
) STRICT;
