-- The prompt registry (package prompt): a tenant's prompts, their
-- immutable versions and the labels that point at versions. template is
-- the version's JSON (prompt.Template: messages, variables, params), text
-- rather than jsonb: it is read back as written, never queried inside.
-- Versions are never updated (a trigger refuses it) nor deleted; a label
-- moves by replacing its row. Times are Unix nanoseconds.

CREATE TABLE prompts (
	tenant_id   text NOT NULL REFERENCES tenants (id),
	id          text COLLATE "C" NOT NULL,
	description text NOT NULL,
	latest      integer NOT NULL,
	created_ns  bigint NOT NULL,
	created_by  text NOT NULL,
	PRIMARY KEY (tenant_id, id)
);

CREATE TABLE prompt_versions (
	tenant_id  text NOT NULL,
	prompt_id  text COLLATE "C" NOT NULL,
	version    integer NOT NULL CHECK (version >= 1),
	template   text NOT NULL,
	note       text NOT NULL,
	created_ns bigint NOT NULL,
	created_by text NOT NULL,
	PRIMARY KEY (tenant_id, prompt_id, version),
	FOREIGN KEY (tenant_id, prompt_id) REFERENCES prompts (tenant_id, id)
);

CREATE FUNCTION prompt_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'prompt versions are immutable';
END;
$$;

CREATE TRIGGER prompt_versions_immutable BEFORE UPDATE ON prompt_versions
	FOR EACH ROW EXECUTE FUNCTION prompt_versions_immutable();

CREATE TABLE prompt_labels (
	tenant_id  text NOT NULL,
	prompt_id  text COLLATE "C" NOT NULL,
	label      text COLLATE "C" NOT NULL,
	version    integer NOT NULL,
	updated_ns bigint NOT NULL,
	PRIMARY KEY (tenant_id, prompt_id, label),
	FOREIGN KEY (tenant_id, prompt_id, version) REFERENCES prompt_versions (tenant_id, prompt_id, version)
);
