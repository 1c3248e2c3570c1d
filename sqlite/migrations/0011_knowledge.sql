-- Knowledge bases: uploaded files, vector stores, the files attached to
-- them (the ingestion queue: rows in_progress are resumed after a
-- restart), batches, and the chunks with their vectors and a keyword
-- index. kb_chunks is the source of truth for vectors; the in-memory ANN
-- index is rebuilt from it.

CREATE TABLE kb_files (
	id         TEXT PRIMARY KEY,
	tenant_id  TEXT NOT NULL,
	filename   TEXT NOT NULL,
	purpose    TEXT NOT NULL,
	bytes      INTEGER NOT NULL,
	sha256     TEXT NOT NULL,
	content    BLOB NOT NULL,
	created_at TEXT NOT NULL
);
CREATE INDEX kb_files_tenant ON kb_files (tenant_id, created_at, id);

CREATE TABLE kb_stores (
	id             TEXT PRIMARY KEY,
	tenant_id      TEXT NOT NULL,
	name           TEXT NOT NULL,
	metadata       TEXT NOT NULL DEFAULT '{}',
	embed_model    TEXT NOT NULL,
	created_at     TEXT NOT NULL,
	last_active_at TEXT NOT NULL
);
CREATE INDEX kb_stores_tenant ON kb_stores (tenant_id, created_at, id);

CREATE TABLE kb_batches (
	id         TEXT PRIMARY KEY,
	store_id   TEXT NOT NULL REFERENCES kb_stores (id) ON DELETE CASCADE,
	tenant_id  TEXT NOT NULL,
	created_at TEXT NOT NULL
);

CREATE TABLE kb_store_files (
	store_id         TEXT NOT NULL REFERENCES kb_stores (id) ON DELETE CASCADE,
	file_id          TEXT NOT NULL REFERENCES kb_files (id) ON DELETE CASCADE,
	tenant_id        TEXT NOT NULL,
	batch_id         TEXT NOT NULL DEFAULT '',
	status           TEXT NOT NULL CHECK (status IN ('in_progress', 'completed', 'failed', 'cancelled')),
	last_error_code  TEXT NOT NULL DEFAULT '',
	last_error       TEXT NOT NULL DEFAULT '',
	chunking         TEXT NOT NULL,
	attributes       TEXT NOT NULL DEFAULT '{}',
	usage_bytes      INTEGER NOT NULL DEFAULT 0,
	created_at       TEXT NOT NULL,
	PRIMARY KEY (store_id, file_id)
);
CREATE INDEX kb_store_files_pending ON kb_store_files (status, created_at) WHERE status = 'in_progress';
CREATE INDEX kb_store_files_batch ON kb_store_files (batch_id) WHERE batch_id != '';

CREATE TABLE kb_chunks (
	-- AUTOINCREMENT: a key is never handed out again after its row is
	-- deleted, so a key names one vector for good (a saved vector index
	-- is brought up to date by the keys added above its watermark and
	-- the keys removed).
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	store_id TEXT NOT NULL,
	file_id  TEXT NOT NULL,
	idx      INTEGER NOT NULL,
	text     TEXT NOT NULL,
	page     INTEGER NOT NULL,
	section  TEXT NOT NULL,
	hash     TEXT NOT NULL,
	tokens   INTEGER NOT NULL,
	vector   BLOB NOT NULL,
	UNIQUE (store_id, file_id, idx),
	FOREIGN KEY (store_id, file_id) REFERENCES kb_store_files (store_id, file_id) ON DELETE CASCADE
);
CREATE INDEX kb_chunks_store ON kb_chunks (store_id, id);
CREATE INDEX kb_chunks_file ON kb_chunks (file_id);
CREATE INDEX kb_chunks_hash ON kb_chunks (store_id, hash);

CREATE VIRTUAL TABLE kb_chunks_fts USING fts5 (text, content = 'kb_chunks', content_rowid = 'id', tokenize = 'porter unicode61');
CREATE TRIGGER kb_chunks_ai AFTER INSERT ON kb_chunks BEGIN
	INSERT INTO kb_chunks_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER kb_chunks_ad AFTER DELETE ON kb_chunks BEGIN
	INSERT INTO kb_chunks_fts (kb_chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER kb_chunks_au AFTER UPDATE ON kb_chunks BEGIN
	INSERT INTO kb_chunks_fts (kb_chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
	INSERT INTO kb_chunks_fts (rowid, text) VALUES (new.id, new.text);
END;
