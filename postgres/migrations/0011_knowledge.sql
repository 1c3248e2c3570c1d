-- Knowledge bases: uploaded files, vector stores, the files attached to
-- them (the ingestion queue: rows in_progress are resumed after a
-- restart), batches, and the chunks with their vectors and a keyword
-- index. seq columns give lists their creation order for cursors; times
-- are Unix nanoseconds (bigint), an exact round trip. Vectors are bytea
-- (little-endian float32s), so this runs on any Postgres; kb_chunks is
-- their source of truth. The keyword index is a generated tsvector (the
-- english configuration: stemmed, without stop words) under GIN.

CREATE TABLE kb_files (
	id         text PRIMARY KEY,
	seq        bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
	tenant_id  text NOT NULL,
	filename   text NOT NULL,
	purpose    text NOT NULL,
	bytes      bigint NOT NULL,
	sha256     text NOT NULL,
	content    bytea NOT NULL,
	created_ns bigint NOT NULL
);
CREATE INDEX kb_files_tenant ON kb_files (tenant_id, seq);

CREATE TABLE kb_stores (
	id             text PRIMARY KEY,
	seq            bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
	tenant_id      text NOT NULL,
	name           text NOT NULL,
	metadata       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
	embed_model    text NOT NULL,
	created_ns     bigint NOT NULL,
	last_active_ns bigint NOT NULL
);
CREATE INDEX kb_stores_tenant ON kb_stores (tenant_id, seq);

CREATE TABLE kb_batches (
	id         text PRIMARY KEY,
	store_id   text NOT NULL REFERENCES kb_stores (id) ON DELETE CASCADE,
	tenant_id  text NOT NULL,
	created_ns bigint NOT NULL
);
CREATE INDEX kb_batches_store ON kb_batches (store_id);

CREATE TABLE kb_store_files (
	store_id        text NOT NULL REFERENCES kb_stores (id) ON DELETE CASCADE,
	file_id         text NOT NULL REFERENCES kb_files (id) ON DELETE CASCADE,
	seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
	tenant_id       text NOT NULL,
	batch_id        text NOT NULL DEFAULT '',
	status          text NOT NULL CHECK (status IN ('in_progress', 'completed', 'failed', 'cancelled')),
	last_error_code text NOT NULL DEFAULT '',
	last_error      text NOT NULL DEFAULT '',
	chunking        jsonb NOT NULL,
	attributes      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
	usage_bytes     bigint NOT NULL DEFAULT 0,
	created_ns      bigint NOT NULL,
	PRIMARY KEY (store_id, file_id)
);
CREATE INDEX kb_store_files_file ON kb_store_files (file_id);
CREATE INDEX kb_store_files_pending ON kb_store_files (created_ns, seq) WHERE status = 'in_progress';
CREATE INDEX kb_store_files_batch ON kb_store_files (batch_id) WHERE batch_id != '';

CREATE TABLE kb_chunks (
	id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	store_id text NOT NULL,
	file_id  text NOT NULL,
	idx      integer NOT NULL,
	text     text NOT NULL,
	page     integer NOT NULL,
	section  text NOT NULL,
	hash     text NOT NULL,
	tokens   integer NOT NULL,
	vector   bytea NOT NULL,
	tsv      tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
	UNIQUE (store_id, file_id, idx),
	FOREIGN KEY (store_id, file_id) REFERENCES kb_store_files (store_id, file_id) ON DELETE CASCADE
);
CREATE INDEX kb_chunks_store ON kb_chunks (store_id, id);
CREATE INDEX kb_chunks_file ON kb_chunks (file_id);
CREATE INDEX kb_chunks_hash ON kb_chunks (store_id, hash);
CREATE INDEX kb_chunks_tsv ON kb_chunks USING gin (tsv);
