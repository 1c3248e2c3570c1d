package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/bulwark-ai/bulwark/rag"
)

// AttachFile implements rag.Repo.
func (db *DB) AttachFile(ctx context.Context, sf rag.StoreFile) error {
	return db.tx(ctx, "attach file", func(tx *sql.Tx) error {
		return attach(ctx, tx, sf)
	})
}

func attach(ctx context.Context, tx *sql.Tx, sf rag.StoreFile) error {
	var one int
	if err := tx.QueryRowContext(ctx, "SELECT 1 FROM kb_stores WHERE id = ? AND tenant_id = ?", sf.StoreID, sf.TenantID).Scan(&one); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, "SELECT 1 FROM kb_files WHERE id = ? AND tenant_id = ?", sf.FileID, sf.TenantID).Scan(&one); err != nil {
		return err
	}
	chunking, err := json.Marshal(sf.Chunking)
	if err != nil {
		return err
	}
	attrs, err := json.Marshal(orEmpty(sf.Attributes))
	if err != nil {
		return err
	}
	// A file that failed or was cancelled starts again; one in progress or
	// completed is a conflict.
	res, err := tx.ExecContext(ctx, `INSERT INTO kb_store_files (store_id, file_id, tenant_id, batch_id, status, chunking, attributes, created_at)
		VALUES (?, ?, ?, ?, 'in_progress', ?, ?, ?)
		ON CONFLICT (store_id, file_id) DO UPDATE SET status = 'in_progress', batch_id = excluded.batch_id,
			last_error_code = '', last_error = '', chunking = excluded.chunking, attributes = excluded.attributes,
			lease_owner = '', lease_until_ns = 0
		WHERE kb_store_files.status IN ('failed', 'cancelled')`,
		sf.StoreID, sf.FileID, sf.TenantID, sf.BatchID, string(chunking), string(attrs), formatTime(sf.CreatedAt))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("file %s is in vector store %s already: %w", sf.FileID, sf.StoreID, rag.ErrConflict)
	}
	return nil
}

const storeFileCols = `store_id, file_id, tenant_id, batch_id, status, last_error_code, last_error, chunking, attributes, usage_bytes, created_at,
	(SELECT filename FROM kb_files WHERE kb_files.id = file_id)`

func scanStoreFile(s interface{ Scan(...any) error }) (rag.StoreFile, error) {
	var sf rag.StoreFile
	var status, code, msg, chunking, attrs, created string
	if err := s.Scan(&sf.StoreID, &sf.FileID, &sf.TenantID, &sf.BatchID, &status, &code, &msg, &chunking, &attrs, &sf.UsageBytes, &created, &sf.Filename); err != nil {
		return sf, err
	}
	sf.Status = rag.Status(status)
	if code != "" {
		sf.LastError = &rag.FileError{Code: code, Message: msg}
	}
	if err := json.Unmarshal([]byte(chunking), &sf.Chunking); err != nil {
		return sf, fmt.Errorf("stored chunking of %s: %w", sf.FileID, err)
	}
	dec := json.NewDecoder(strings.NewReader(attrs))
	if err := dec.Decode(&sf.Attributes); err != nil {
		return sf, fmt.Errorf("stored attributes of %s: %w", sf.FileID, err)
	}
	var err error
	sf.CreatedAt, err = parseTime(created)
	return sf, err
}

// StoreFile implements rag.Repo.
func (db *DB) StoreFile(ctx context.Context, tenantID, storeID, fileID string) (rag.StoreFile, error) {
	sf, err := scanStoreFile(db.db.QueryRowContext(ctx, "SELECT "+storeFileCols+" FROM kb_store_files WHERE store_id = ? AND file_id = ? AND tenant_id = ?",
		storeID, fileID, tenantID))
	return sf, notFound("read vector store file", err)
}

// UpdateAttributes implements rag.Repo.
func (db *DB) UpdateAttributes(ctx context.Context, tenantID, storeID, fileID string, attrs map[string]any) (rag.StoreFile, error) {
	b, err := json.Marshal(orEmpty(attrs))
	if err != nil {
		return rag.StoreFile{}, fmt.Errorf("update vector store file attributes: %w", err)
	}
	res, err := db.db.ExecContext(ctx, "UPDATE kb_store_files SET attributes = ? WHERE store_id = ? AND file_id = ? AND tenant_id = ?",
		string(b), storeID, fileID, tenantID)
	if err != nil {
		return rag.StoreFile{}, opError("update vector store file attributes", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return rag.StoreFile{}, fmt.Errorf("update vector store file attributes: %w", rag.ErrNotFound)
	}
	return db.StoreFile(ctx, tenantID, storeID, fileID)
}

// StoreFiles implements rag.Repo. Its cursor is a file id.
func (db *DB) StoreFiles(ctx context.Context, tenantID, storeID, batchID string, status rag.Status, p rag.Page) ([]rag.StoreFile, bool, error) {
	var one int
	if err := db.db.QueryRowContext(ctx, "SELECT 1 FROM kb_stores WHERE id = ? AND tenant_id = ?", storeID, tenantID).Scan(&one); err != nil {
		return nil, false, notFound("list vector store files", err)
	}
	q := "SELECT " + storeFileCols + " FROM kb_store_files WHERE store_id = ?"
	args := []any{storeID}
	if batchID != "" {
		q += " AND batch_id = ?"
		args = append(args, batchID)
	}
	if status != "" {
		q += " AND status = ?"
		args = append(args, string(status))
	}
	cmpAfter, order := ">", "ASC"
	if p.Desc {
		cmpAfter, order = "<", "DESC"
	}
	if p.After != "" {
		q += " AND rowid " + cmpAfter + " (SELECT rowid FROM kb_store_files WHERE store_id = ? AND file_id = ?)"
		args = append(args, storeID, p.After)
	}
	if p.Before != "" {
		cmp := map[bool]string{false: "<", true: ">"}[p.Desc]
		q += " AND rowid " + cmp + " (SELECT rowid FROM kb_store_files WHERE store_id = ? AND file_id = ?)"
		args = append(args, storeID, p.Before)
	}
	q += " ORDER BY rowid " + order + " LIMIT ?"
	rows, err := db.db.QueryContext(ctx, q, append(args, p.Limit+1)...)
	if err != nil {
		return nil, false, opError("list vector store files", err)
	}
	out, err := collect(rows, scanStoreFile)
	if err != nil {
		return nil, false, opError("list vector store files", err)
	}
	more := len(out) > p.Limit
	if more {
		out = out[:p.Limit]
	}
	return out, more, nil
}

// SetStatus implements rag.Repo.
func (db *DB) SetStatus(ctx context.Context, storeID, fileID string, status rag.Status, why *rag.FileError) (bool, error) {
	var code, msg string
	if why != nil {
		code, msg = why.Code, why.Message
	}
	res, err := db.db.ExecContext(ctx, `UPDATE kb_store_files SET status = ?, last_error_code = ?, last_error = ?,
		usage_bytes = (SELECT coalesce(sum(length(CAST(text AS BLOB))), 0) FROM kb_chunks WHERE store_id = ? AND file_id = ?)
		WHERE store_id = ? AND file_id = ? AND status = 'in_progress'`,
		string(status), code, msg, storeID, fileID, storeID, fileID)
	if err != nil {
		return false, opError("set vector store file status", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Pending implements rag.Repo.
func (db *DB) Pending(ctx context.Context) ([]rag.StoreFile, error) {
	rows, err := db.db.QueryContext(ctx, "SELECT "+storeFileCols+" FROM kb_store_files WHERE status = 'in_progress' ORDER BY created_at, rowid")
	if err != nil {
		return nil, opError("list pending files", err)
	}
	out, err := collect(rows, scanStoreFile)
	if err != nil {
		return nil, opError("list pending files", err)
	}
	return out, nil
}

// DetachFile implements rag.Repo.
func (db *DB) DetachFile(ctx context.Context, tenantID, storeID, fileID string) ([]uint64, error) {
	var keys []uint64
	err := db.tx(ctx, "detach file", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE kb_store_files SET status = 'cancelled' WHERE store_id = ? AND file_id = ? AND tenant_id = ?", storeID, fileID, tenantID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return rag.ErrNotFound
		}
		if keys, err = deleteChunks(ctx, tx, "store_id = ? AND file_id = ?", storeID, fileID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM kb_store_files WHERE store_id = ? AND file_id = ?", storeID, fileID)
		return err
	})
	return keys, err
}

func deleteChunks(ctx context.Context, tx *sql.Tx, where string, args ...any) ([]uint64, error) {
	rows, err := tx.QueryContext(ctx, "DELETE FROM kb_chunks WHERE "+where+" RETURNING id", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []uint64
	for rows.Next() {
		var k int64
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, uint64(k))
	}
	return keys, rows.Err()
}

// PutBatch implements rag.Repo.
func (db *DB) PutBatch(ctx context.Context, b rag.Batch, files []rag.StoreFile) error {
	return db.tx(ctx, "create file batch", func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM kb_stores WHERE id = ? AND tenant_id = ?", b.StoreID, b.TenantID).Scan(&one); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO kb_batches (id, store_id, tenant_id, created_at) VALUES (?, ?, ?, ?)",
			b.ID, b.StoreID, b.TenantID, formatTime(b.CreatedAt)); isUnique(err) {
			return fmt.Errorf("batch %s: %w", b.ID, rag.ErrConflict)
		} else if err != nil {
			return err
		}
		for _, sf := range files {
			sf.BatchID = b.ID
			if err := attach(ctx, tx, sf); err != nil {
				return err
			}
		}
		return nil
	})
}

// Batch implements rag.Repo. A batch is in progress while any of its files
// is, then cancelled if any was cancelled, else completed.
func (db *DB) Batch(ctx context.Context, tenantID, storeID, id string) (rag.Batch, error) {
	var b rag.Batch
	var created string
	c := &b.Counts
	err := db.db.QueryRowContext(ctx, `SELECT b.id, b.store_id, b.tenant_id, b.created_at,
		(SELECT count(*) FROM kb_store_files f WHERE f.batch_id = b.id AND f.status = 'in_progress'),
		(SELECT count(*) FROM kb_store_files f WHERE f.batch_id = b.id AND f.status = 'completed'),
		(SELECT count(*) FROM kb_store_files f WHERE f.batch_id = b.id AND f.status = 'failed'),
		(SELECT count(*) FROM kb_store_files f WHERE f.batch_id = b.id AND f.status = 'cancelled')
		FROM kb_batches b WHERE b.id = ? AND b.store_id = ? AND b.tenant_id = ?`, id, storeID, tenantID).
		Scan(&b.ID, &b.StoreID, &b.TenantID, &created, &c.InProgress, &c.Completed, &c.Failed, &c.Cancelled)
	if err != nil {
		return b, notFound("read file batch", err)
	}
	if b.CreatedAt, err = parseTime(created); err != nil {
		return b, err
	}
	switch {
	case c.InProgress > 0:
		b.Status = rag.InProgress
	case c.Cancelled > 0:
		b.Status = rag.Cancelled
	default:
		b.Status = rag.Completed
	}
	return b, nil
}

// CancelBatch implements rag.Repo.
func (db *DB) CancelBatch(ctx context.Context, tenantID, storeID, id string) (rag.Batch, error) {
	if _, err := db.Batch(ctx, tenantID, storeID, id); err != nil {
		return rag.Batch{}, err
	}
	if _, err := db.db.ExecContext(ctx, "UPDATE kb_store_files SET status = 'cancelled' WHERE batch_id = ? AND status = 'in_progress'", id); err != nil {
		return rag.Batch{}, opError("cancel file batch", err)
	}
	return db.Batch(ctx, tenantID, storeID, id)
}

// ChunkHashes implements rag.Repo.
func (db *DB) ChunkHashes(ctx context.Context, storeID, fileID string) (map[int]string, error) {
	rows, err := db.db.QueryContext(ctx, "SELECT idx, hash FROM kb_chunks WHERE store_id = ? AND file_id = ?", storeID, fileID)
	if err != nil {
		return nil, opError("read chunk hashes", err)
	}
	defer rows.Close()
	out := map[int]string{}
	for rows.Next() {
		var i int
		var h string
		if err := rows.Scan(&i, &h); err != nil {
			return nil, opError("read chunk hashes", err)
		}
		out[i] = h
	}
	return out, rows.Err()
}

// PutChunks implements rag.Repo. A chunk of a file no longer in progress
// in its store (cancelled, detached) is not stored: ErrConflict. A chunk
// that replaces one at its index gets a new key (a key names one vector
// for good, so a saved vector index is brought up to date by the keys
// added and removed since it was saved); the replaced keys are returned.
func (db *DB) PutChunks(ctx context.Context, chunks []rag.Chunk) ([]uint64, error) {
	if len(chunks) == 0 {
		return nil, nil
	}
	var replaced []uint64
	err := db.tx(ctx, "store chunks", func(tx *sql.Tx) error {
		var status string
		if err := tx.QueryRowContext(ctx, "SELECT status FROM kb_store_files WHERE store_id = ? AND file_id = ?",
			chunks[0].StoreID, chunks[0].FileID).Scan(&status); err != nil {
			return err
		}
		if status != string(rag.InProgress) {
			return fmt.Errorf("file %s is %s: %w", chunks[0].FileID, status, rag.ErrConflict)
		}
		del, err := tx.PrepareContext(ctx, "DELETE FROM kb_chunks WHERE store_id = ? AND file_id = ? AND idx = ? RETURNING id")
		if err != nil {
			return err
		}
		defer del.Close()
		ins, err := tx.PrepareContext(ctx, `INSERT INTO kb_chunks (store_id, file_id, idx, text, page, section, hash, tokens, vector)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for i := range chunks {
			c := &chunks[i]
			var old int64
			switch err := del.QueryRowContext(ctx, c.StoreID, c.FileID, c.Index).Scan(&old); {
			case err == nil:
				replaced = append(replaced, uint64(old))
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
			var key int64
			if err := ins.QueryRowContext(ctx, c.StoreID, c.FileID, c.Index, c.Text, c.Page, c.Section, c.Hash, c.Tokens, encodeVector(c.Vector)).Scan(&key); err != nil {
				return err
			}
			c.Key = uint64(key)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return replaced, nil
}

// ChunkFiles implements rag.Repo.
func (db *DB) ChunkFiles(ctx context.Context, storeID string, fn func(key uint64, fileID string) error) error {
	rows, err := db.db.QueryContext(ctx, "SELECT id, file_id FROM kb_chunks WHERE store_id = ? ORDER BY id", storeID)
	if err != nil {
		return opError("read chunk keys", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k int64
		var f string
		if err := rows.Scan(&k, &f); err != nil {
			return opError("read chunk keys", err)
		}
		if err := fn(uint64(k), f); err != nil {
			return err
		}
	}
	return rows.Err()
}

// TrimChunks implements rag.Repo.
func (db *DB) TrimChunks(ctx context.Context, storeID, fileID string, n int) ([]uint64, error) {
	var keys []uint64
	err := db.tx(ctx, "trim chunks", func(tx *sql.Tx) error {
		var err error
		keys, err = deleteChunks(ctx, tx, "store_id = ? AND file_id = ? AND idx >= ?", storeID, fileID, n)
		return err
	})
	return keys, err
}

// Vectors implements rag.Repo.
func (db *DB) Vectors(ctx context.Context, storeID string, after uint64, fn func(key uint64, fileID string, v []float32) error) error {
	rows, err := db.db.QueryContext(ctx, "SELECT id, file_id, vector FROM kb_chunks WHERE store_id = ? AND id > ? ORDER BY id", storeID, int64(after))
	if err != nil {
		return opError("read vectors", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key int64
		var file string
		var b []byte
		if err := rows.Scan(&key, &file, &b); err != nil {
			return opError("read vectors", err)
		}
		if err := fn(uint64(key), file, decodeVector(b)); err != nil {
			return err
		}
	}
	return rows.Err()
}

// VectorsByHash implements rag.Repo.
func (db *DB) VectorsByHash(ctx context.Context, storeID string, hashes []string) (map[string][]float32, error) {
	out := map[string][]float32{}
	for start := 0; start < len(hashes); start += 500 {
		part := hashes[start:min(start+500, len(hashes))]
		args := []any{storeID}
		for _, h := range part {
			args = append(args, h)
		}
		rows, err := db.db.QueryContext(ctx, "SELECT hash, vector FROM kb_chunks WHERE store_id = ? AND hash IN (?"+
			strings.Repeat(", ?", len(part)-1)+")", args...)
		if err != nil {
			return nil, opError("read vectors by hash", err)
		}
		for rows.Next() {
			var h string
			var b []byte
			if err := rows.Scan(&h, &b); err != nil {
				rows.Close()
				return nil, opError("read vectors by hash", err)
			}
			out[h] = decodeVector(b)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, opError("read vectors by hash", err)
		}
	}
	return out, nil
}

// FileChunks implements rag.Repo.
func (db *DB) FileChunks(ctx context.Context, storeID, fileID string) ([]rag.Chunk, error) {
	rows, err := db.db.QueryContext(ctx, "SELECT id, store_id, file_id, idx, text, page, section, hash, tokens FROM kb_chunks WHERE store_id = ? AND file_id = ? ORDER BY idx",
		storeID, fileID)
	if err != nil {
		return nil, opError("read file chunks", err)
	}
	defer rows.Close()
	var out []rag.Chunk
	for rows.Next() {
		var c rag.Chunk
		var key int64
		if err := rows.Scan(&key, &c.StoreID, &c.FileID, &c.Index, &c.Text, &c.Page, &c.Section, &c.Hash, &c.Tokens); err != nil {
			return nil, opError("read file chunks", err)
		}
		c.Key = uint64(key)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, opError("read file chunks", err)
	}
	return out, nil
}

// Chunks implements rag.Repo.
func (db *DB) Chunks(ctx context.Context, keys []uint64) (map[uint64]rag.Chunk, error) {
	out := make(map[uint64]rag.Chunk, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = int64(k)
	}
	rows, err := db.db.QueryContext(ctx, "SELECT id, store_id, file_id, idx, text, page, section, hash, tokens FROM kb_chunks WHERE id IN (?"+
		strings.Repeat(", ?", len(keys)-1)+")", args...)
	if err != nil {
		return nil, opError("read chunks", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c rag.Chunk
		var key int64
		if err := rows.Scan(&key, &c.StoreID, &c.FileID, &c.Index, &c.Text, &c.Page, &c.Section, &c.Hash, &c.Tokens); err != nil {
			return nil, opError("read chunks", err)
		}
		c.Key = uint64(key)
		out[c.Key] = c
	}
	return out, rows.Err()
}

// Keyword implements rag.Repo with SQLite's FTS5 and its bm25() ranking.
// The query's words are searched for with OR, so that a chunk holding
// some of them ranks by how many and how rare; FTS5's query syntax in the
// client's text is never interpreted.
func (db *DB) Keyword(ctx context.Context, storeID, query string, fn func(key uint64, score float64) bool) error {
	match := ftsQuery(query)
	if match == "" {
		return nil
	}
	// The store's token in the index (its store_key column) restricts the
	// match to the store's chunks: other stores' postings are skipped, not
	// ranked. The join checks the store exactly; only the text column
	// weighs in the ranking.
	match = "store_key : " + storeKey(storeID) + " AND text : (" + match + ")"
	rows, err := db.db.QueryContext(ctx, `SELECT c.id, -bm25(kb_chunks_fts, 1, 0) FROM kb_chunks_fts
		JOIN kb_chunks c ON c.id = kb_chunks_fts.rowid
		WHERE kb_chunks_fts MATCH ? AND c.store_id = ? ORDER BY bm25(kb_chunks_fts, 1, 0)`, match, storeID)
	if err != nil {
		return opError("keyword search", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key int64
		var score float64
		if err := rows.Scan(&key, &score); err != nil {
			return opError("keyword search", err)
		}
		if !fn(uint64(key), score) {
			return nil
		}
	}
	return rows.Err()
}

// ftsQuery turns free text into an FTS5 query of its words joined by OR,
// each quoted as a string (so no word is read as an operator). Stop words
// are left out unless the query has nothing else: their BM25 weight is
// next to nothing, and ranking every chunk that holds "the" costs time in
// proportion to the store's size.
func ftsQuery(q string) string {
	words := strings.FieldsFunc(q, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
	content := slices.ContainsFunc(words, func(w string) bool { return !stopWords[strings.ToLower(w)] })
	seen := map[string]bool{}
	var b strings.Builder
	for _, w := range words {
		w = strings.ToLower(w)
		if seen[w] || len(seen) >= 64 || content && stopWords[w] {
			continue
		}
		seen[w] = true
		if b.Len() > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString(`"` + w + `"`)
	}
	return b.String()
}

// storeKey is a store's token in the full-text index, as kb_chunks'
// generated column store_key computes it: "s" and the hex of the id,
// quoted as an FTS5 string.
func storeKey(storeID string) string {
	return `"s` + strings.ToUpper(hex.EncodeToString([]byte(storeID))) + `"`
}

// stopWords are English function words (the most frequent words of
// English text, which carry no topic).
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a about above after again against all am an and any are as at be because been before being
		below between both but by can could did do does doing down during each few for from further had has have having he her
		here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on
		once only or other our ours ourselves out over own same she should so some such than that the their theirs them
		themselves then there these they this those through to too under until up very was we were what when where which while
		who whom why will with would you your yours yourself yourselves`) {
		m[w] = true
	}
	return m
}()

// Claim implements rag.Repo.
func (db *DB) Claim(ctx context.Context, storeID, fileID, owner string, ttl time.Duration) (bool, error) {
	now := time.Now().UnixNano()
	res, err := db.db.ExecContext(ctx, `UPDATE kb_store_files SET lease_owner = ?, lease_until_ns = ?
		WHERE store_id = ? AND file_id = ? AND status = 'in_progress' AND (lease_owner = ? OR lease_until_ns < ?)`,
		owner, now+int64(ttl), storeID, fileID, owner, now)
	if err != nil {
		return false, opError("claim vector store file", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Release implements rag.Repo.
func (db *DB) Release(ctx context.Context, storeID, fileID, owner string) error {
	_, err := db.db.ExecContext(ctx, "UPDATE kb_store_files SET lease_owner = '', lease_until_ns = 0 WHERE store_id = ? AND file_id = ? AND lease_owner = ?",
		storeID, fileID, owner)
	if err != nil {
		return opError("release vector store file", err)
	}
	return nil
}
