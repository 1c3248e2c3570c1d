-- Keyword search matches inside one store: the full-text index carries
-- each chunk's store, so that a query is restricted to the store by the
-- index itself (other stores' postings are skipped, never ranked).
-- Before, every store's matches were ranked and then filtered, so one
-- tenant's large store slowed another's search in proportion to its size.
-- The store is indexed as one token, 's' and the hex of its id (an id's
-- own tokens, "vs" and the hex, would put "vs" in every chunk).
ALTER TABLE kb_chunks ADD COLUMN store_key TEXT GENERATED ALWAYS AS ('s' || hex(store_id)) VIRTUAL;
DROP TRIGGER kb_chunks_ai;
DROP TRIGGER kb_chunks_ad;
DROP TRIGGER kb_chunks_au;
DROP TABLE kb_chunks_fts;
CREATE VIRTUAL TABLE kb_chunks_fts USING fts5 (text, store_key, content = 'kb_chunks', content_rowid = 'id', tokenize = 'porter unicode61');
CREATE TRIGGER kb_chunks_ai AFTER INSERT ON kb_chunks BEGIN
	INSERT INTO kb_chunks_fts (rowid, text, store_key) VALUES (new.id, new.text, new.store_key);
END;
CREATE TRIGGER kb_chunks_ad AFTER DELETE ON kb_chunks BEGIN
	INSERT INTO kb_chunks_fts (kb_chunks_fts, rowid, text, store_key) VALUES ('delete', old.id, old.text, old.store_key);
END;
CREATE TRIGGER kb_chunks_au AFTER UPDATE ON kb_chunks BEGIN
	INSERT INTO kb_chunks_fts (kb_chunks_fts, rowid, text, store_key) VALUES ('delete', old.id, old.text, old.store_key);
	INSERT INTO kb_chunks_fts (rowid, text, store_key) VALUES (new.id, new.text, new.store_key);
END;
INSERT INTO kb_chunks_fts (kb_chunks_fts) VALUES ('rebuild');
