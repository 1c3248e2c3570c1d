package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"

	"github.com/bulwark-ai/bulwark/rag"
)

// AttachFile implements rag.Repo.
func (db *DB) AttachFile(ctx context.Context, sf rag.StoreFile) error {
	return db.kbTx(ctx, "attach file", func(tx pgx.Tx) error { return attach(ctx, tx, sf) })
}

func attach(ctx context.Context, tx pgx.Tx, sf rag.StoreFile) error {
	var one int
	if err := tx.QueryRow(ctx, "SELECT 1 FROM kb_stores WHERE id = $1 AND tenant_id = $2", sf.StoreID, sf.TenantID).Scan(&one); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, "SELECT 1 FROM kb_files WHERE id = $1 AND tenant_id = $2", sf.FileID, sf.TenantID).Scan(&one); err != nil {
		return err
	}
	chunking, err := jsonText(sf.Chunking)
	if err != nil {
		return err
	}
	attrs, err := jsonText(orEmpty(sf.Attributes))
	if err != nil {
		return err
	}
	// A file that failed or was cancelled starts again; one in progress or
	// completed is a conflict.
	tag, err := tx.Exec(ctx, `INSERT INTO kb_store_files (store_id, file_id, tenant_id, batch_id, status, chunking, attributes, created_ns)
		VALUES ($1, $2, $3, $4, 'in_progress', $5::jsonb, $6::jsonb, $7)
		ON CONFLICT (store_id, file_id) DO UPDATE SET status = 'in_progress', batch_id = excluded.batch_id,
			last_error_code = '', last_error = '', chunking = excluded.chunking, attributes = excluded.attributes,
			lease_owner = '', lease_until = '-infinity'
		WHERE kb_store_files.status IN ('failed', 'cancelled')`,
		sf.StoreID, sf.FileID, sf.TenantID, sf.BatchID, chunking, attrs, unixNano(sf.CreatedAt))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("file %s is in vector store %s already: %w", sf.FileID, sf.StoreID, rag.ErrConflict)
	}
	return nil
}

func orEmpty[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return m
}

const storeFileCols = `sf.store_id, sf.file_id, sf.tenant_id, sf.batch_id, sf.status, sf.last_error_code, sf.last_error,
	sf.chunking, sf.attributes, sf.usage_bytes, sf.created_ns, f.filename
	FROM kb_store_files sf JOIN kb_files f ON f.id = sf.file_id`

func scanStoreFile(s pgx.Row) (rag.StoreFile, error) {
	var sf rag.StoreFile
	var status, code, msg string
	var created int64
	if err := s.Scan(&sf.StoreID, &sf.FileID, &sf.TenantID, &sf.BatchID, &status, &code, &msg, &sf.Chunking, &sf.Attributes,
		&sf.UsageBytes, &created, &sf.Filename); err != nil {
		return sf, err
	}
	sf.Status = rag.Status(status)
	if code != "" {
		sf.LastError = &rag.FileError{Code: code, Message: msg}
	}
	sf.CreatedAt = fromUnixNano(created)
	return sf, nil
}

// StoreFile implements rag.Repo.
func (db *DB) StoreFile(ctx context.Context, tenantID, storeID, fileID string) (rag.StoreFile, error) {
	if err := db.open(ctx); err != nil {
		return rag.StoreFile{}, err
	}
	sf, err := scanStoreFile(db.pool.QueryRow(ctx, "SELECT "+storeFileCols+" WHERE sf.store_id = $1 AND sf.file_id = $2 AND sf.tenant_id = $3",
		storeID, fileID, tenantID))
	return sf, kbError("read vector store file", err)
}

// UpdateAttributes implements rag.Repo. The filters read the store
// file's row (filterSQL), so a search sees the new attributes once this
// commits.
func (db *DB) UpdateAttributes(ctx context.Context, tenantID, storeID, fileID string, attrs map[string]any) (rag.StoreFile, error) {
	if err := db.open(ctx); err != nil {
		return rag.StoreFile{}, err
	}
	b, err := jsonText(orEmpty(attrs))
	if err != nil {
		return rag.StoreFile{}, fmt.Errorf("update vector store file attributes: %w", err)
	}
	tag, err := db.pool.Exec(ctx, "UPDATE kb_store_files SET attributes = $1::jsonb WHERE store_id = $2 AND file_id = $3 AND tenant_id = $4",
		b, storeID, fileID, tenantID)
	if err != nil {
		return rag.StoreFile{}, opError("update vector store file attributes", err)
	}
	if tag.RowsAffected() == 0 {
		return rag.StoreFile{}, fmt.Errorf("update vector store file attributes: %w", rag.ErrNotFound)
	}
	return db.StoreFile(ctx, tenantID, storeID, fileID)
}

// StoreFiles implements rag.Repo. Its cursor is a file id.
func (db *DB) StoreFiles(ctx context.Context, tenantID, storeID, batchID string, status rag.Status, p rag.Page) ([]rag.StoreFile, bool, error) {
	if err := db.open(ctx); err != nil {
		return nil, false, err
	}
	var one int
	if err := db.pool.QueryRow(ctx, "SELECT 1 FROM kb_stores WHERE id = $1 AND tenant_id = $2", storeID, tenantID).Scan(&one); err != nil {
		return nil, false, kbError("list vector store files", err)
	}
	var a args
	q := "SELECT " + storeFileCols + " WHERE sf.store_id = " + a.add(storeID)
	if batchID != "" {
		q += " AND sf.batch_id = " + a.add(batchID)
	}
	if status != "" {
		q += " AND sf.status = " + a.add(string(status))
	}
	q += page("sf.seq", p, &a, func(a *args, id string) string {
		return "SELECT seq FROM kb_store_files WHERE store_id = " + a.add(storeID) + " AND file_id = " + a.add(id)
	})
	return list(ctx, db, "list vector store files", q, a, p.Limit, scanStoreFile)
}

// SetStatus implements rag.Repo.
func (db *DB) SetStatus(ctx context.Context, storeID, fileID string, status rag.Status, why *rag.FileError) (bool, error) {
	if err := db.open(ctx); err != nil {
		return false, err
	}
	var code, msg string
	if why != nil {
		code, msg = why.Code, why.Message
	}
	tag, err := db.pool.Exec(ctx, `UPDATE kb_store_files SET status = $1, last_error_code = $2, last_error = $3,
		usage_bytes = (SELECT coalesce(sum(octet_length(text)), 0) FROM kb_chunks WHERE store_id = $4 AND file_id = $5)
		WHERE store_id = $4 AND file_id = $5 AND status = 'in_progress'`,
		string(status), code, msg, storeID, fileID)
	if err != nil {
		return false, opError("set vector store file status", err)
	}
	return tag.RowsAffected() > 0, nil
}

// Pending implements rag.Repo.
func (db *DB) Pending(ctx context.Context) ([]rag.StoreFile, error) {
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	out, err := collect(ctx, db, "SELECT "+storeFileCols+" WHERE sf.status = 'in_progress' ORDER BY sf.created_ns, sf.seq", nil, scanStoreFile)
	if err != nil {
		return nil, opError("list pending files", err)
	}
	return out, nil
}

// DetachFile implements rag.Repo.
func (db *DB) DetachFile(ctx context.Context, tenantID, storeID, fileID string) ([]uint64, error) {
	var keys []uint64
	err := db.kbTx(ctx, "detach file", func(tx pgx.Tx) error {
		var one int
		// The row lock makes a concurrent PutChunks wait, then find the
		// file gone.
		if err := tx.QueryRow(ctx, "SELECT 1 FROM kb_store_files WHERE store_id = $1 AND file_id = $2 AND tenant_id = $3 FOR UPDATE",
			storeID, fileID, tenantID).Scan(&one); err != nil {
			return err
		}
		var err error
		if keys, err = deleteChunks(ctx, tx, "store_id = $1 AND file_id = $2", storeID, fileID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM kb_store_files WHERE store_id = $1 AND file_id = $2", storeID, fileID)
		return err
	})
	return keys, err
}

func deleteChunks(ctx context.Context, tx pgx.Tx, where string, a ...any) ([]uint64, error) {
	rows, err := tx.Query(ctx, "DELETE FROM kb_chunks WHERE "+where+" RETURNING id", a...)
	if err != nil {
		return nil, err
	}
	var keys []uint64
	var k int64
	_, err = pgx.ForEachRow(rows, []any{&k}, func() error {
		keys = append(keys, uint64(k))
		return nil
	})
	return keys, err
}

// PutBatch implements rag.Repo.
func (db *DB) PutBatch(ctx context.Context, b rag.Batch, files []rag.StoreFile) error {
	return db.kbTx(ctx, "create file batch", func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, "SELECT 1 FROM kb_stores WHERE id = $1 AND tenant_id = $2", b.StoreID, b.TenantID).Scan(&one); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO kb_batches (id, store_id, tenant_id, created_ns) VALUES ($1, $2, $3, $4)",
			b.ID, b.StoreID, b.TenantID, unixNano(b.CreatedAt)); err != nil {
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
	if err := db.open(ctx); err != nil {
		return rag.Batch{}, err
	}
	var b rag.Batch
	var created int64
	c := &b.Counts
	err := db.pool.QueryRow(ctx, `SELECT b.id, b.store_id, b.tenant_id, b.created_ns,
		count(*) FILTER (WHERE f.status = 'in_progress'),
		count(*) FILTER (WHERE f.status = 'completed'),
		count(*) FILTER (WHERE f.status = 'failed'),
		count(*) FILTER (WHERE f.status = 'cancelled')
		FROM kb_batches b LEFT JOIN kb_store_files f ON f.store_id = b.store_id AND f.batch_id = b.id
		WHERE b.id = $1 AND b.store_id = $2 AND b.tenant_id = $3
		GROUP BY b.id`, id, storeID, tenantID).
		Scan(&b.ID, &b.StoreID, &b.TenantID, &created, &c.InProgress, &c.Completed, &c.Failed, &c.Cancelled)
	if err != nil {
		return b, kbError("read file batch", err)
	}
	b.CreatedAt = fromUnixNano(created)
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
	if _, err := db.pool.Exec(ctx, "UPDATE kb_store_files SET status = 'cancelled' WHERE store_id = $1 AND batch_id = $2 AND status = 'in_progress'",
		storeID, id); err != nil {
		return rag.Batch{}, opError("cancel file batch", err)
	}
	return db.Batch(ctx, tenantID, storeID, id)
}

// ChunkHashes implements rag.Repo.
func (db *DB) ChunkHashes(ctx context.Context, storeID, fileID string) (map[int]string, error) {
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, "SELECT idx, hash FROM kb_chunks WHERE store_id = $1 AND file_id = $2", storeID, fileID)
	if err != nil {
		return nil, opError("read chunk hashes", err)
	}
	out := map[int]string{}
	var i int
	var h string
	if _, err := pgx.ForEachRow(rows, []any{&i, &h}, func() error { out[i] = h; return nil }); err != nil {
		return nil, opError("read chunk hashes", err)
	}
	return out, nil
}

// PutChunks implements rag.Repo. A chunk of a file no longer in progress
// in its store (cancelled, detached) is not stored: ErrConflict, or
// ErrNotFound once detached. The file's row is locked for the
// transaction, so a detach or cancel waits for it or wins. A chunk that
// replaces one at its index gets a new key; the replaced keys are
// returned.
func (db *DB) PutChunks(ctx context.Context, chunks []rag.Chunk) ([]uint64, error) {
	return db.putChunks(ctx, chunks, `INSERT INTO kb_chunks (store_id, file_id, idx, text, page, section, hash, tokens, vector)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`, false)
}

// putChunks is PutChunks with insert, the statement that stores a chunk:
// its arguments are the chunk's columns, then, when withEmbedding, the
// vector as pgvector's text.
func (db *DB) putChunks(ctx context.Context, chunks []rag.Chunk, insert string, withEmbedding bool) ([]uint64, error) {
	if len(chunks) == 0 {
		return nil, nil
	}
	var replaced []uint64
	keys := make([]uint64, len(chunks))
	err := db.kbTx(ctx, "store chunks", func(tx pgx.Tx) error {
		replaced = replaced[:0]
		var status string
		if err := tx.QueryRow(ctx, "SELECT status FROM kb_store_files WHERE store_id = $1 AND file_id = $2 FOR SHARE",
			chunks[0].StoreID, chunks[0].FileID).Scan(&status); err != nil {
			return err
		}
		if status != string(rag.InProgress) {
			return fmt.Errorf("file %s is %s: %w", chunks[0].FileID, status, rag.ErrConflict)
		}
		for i := range chunks {
			c := &chunks[i]
			var old int64
			switch err := tx.QueryRow(ctx, "DELETE FROM kb_chunks WHERE store_id = $1 AND file_id = $2 AND idx = $3 RETURNING id",
				c.StoreID, c.FileID, c.Index).Scan(&old); {
			case err == nil:
				replaced = append(replaced, uint64(old))
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
			a := []any{c.StoreID, c.FileID, c.Index, c.Text, c.Page, c.Section, c.Hash, c.Tokens, encodeVector(c.Vector)}
			if withEmbedding {
				a = append(a, vectorText(c.Vector))
			}
			var key int64
			if err := tx.QueryRow(ctx, insert, a...).Scan(&key); err != nil {
				return err
			}
			keys[i] = uint64(key)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range chunks {
		chunks[i].Key = keys[i]
	}
	return replaced, nil
}

// ChunkFiles implements rag.Repo.
func (db *DB) ChunkFiles(ctx context.Context, storeID string, fn func(key uint64, fileID string) error) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	rows, err := db.pool.Query(ctx, "SELECT id, file_id FROM kb_chunks WHERE store_id = $1 ORDER BY id", storeID)
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
	if err := rows.Err(); err != nil {
		return opError("read chunk keys", err)
	}
	return nil
}

// TrimChunks implements rag.Repo.
func (db *DB) TrimChunks(ctx context.Context, storeID, fileID string, n int) ([]uint64, error) {
	var keys []uint64
	err := db.kbTx(ctx, "trim chunks", func(tx pgx.Tx) error {
		var err error
		keys, err = deleteChunks(ctx, tx, "store_id = $1 AND file_id = $2 AND idx >= $3", storeID, fileID, n)
		return err
	})
	return keys, err
}

// Vectors implements rag.Repo.
func (db *DB) Vectors(ctx context.Context, storeID string, after uint64, fn func(key uint64, fileID string, v []float32) error) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	rows, err := db.pool.Query(ctx, "SELECT id, file_id, vector FROM kb_chunks WHERE store_id = $1 AND id > $2 ORDER BY id", storeID, int64(after))
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
	if err := rows.Err(); err != nil {
		return opError("read vectors", err)
	}
	return nil
}

// VectorsByHash implements rag.Repo.
func (db *DB) VectorsByHash(ctx context.Context, storeID string, hashes []string) (map[string][]float32, error) {
	out := map[string][]float32{}
	if len(hashes) == 0 {
		return out, nil
	}
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, "SELECT hash, vector FROM kb_chunks WHERE store_id = $1 AND hash = ANY($2)", storeID, hashes)
	if err != nil {
		return nil, opError("read vectors by hash", err)
	}
	var h string
	var b []byte
	if _, err := pgx.ForEachRow(rows, []any{&h, &b}, func() error { out[h] = decodeVector(b); return nil }); err != nil {
		return nil, opError("read vectors by hash", err)
	}
	return out, nil
}

// FileChunks implements rag.Repo.
func (db *DB) FileChunks(ctx context.Context, storeID, fileID string) ([]rag.Chunk, error) {
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, "SELECT id, store_id, file_id, idx, text, page, section, hash, tokens FROM kb_chunks WHERE store_id = $1 AND file_id = $2 ORDER BY idx",
		storeID, fileID)
	if err != nil {
		return nil, opError("read file chunks", err)
	}
	var out []rag.Chunk
	var c rag.Chunk
	var key int64
	if _, err := pgx.ForEachRow(rows, []any{&key, &c.StoreID, &c.FileID, &c.Index, &c.Text, &c.Page, &c.Section, &c.Hash, &c.Tokens}, func() error {
		c.Key = uint64(key)
		out = append(out, c)
		return nil
	}); err != nil {
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
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	ids := make([]int64, len(keys))
	for i, k := range keys {
		ids[i] = int64(k)
	}
	rows, err := db.pool.Query(ctx, "SELECT id, store_id, file_id, idx, text, page, section, hash, tokens FROM kb_chunks WHERE id = ANY($1)", ids)
	if err != nil {
		return nil, opError("read chunks", err)
	}
	var c rag.Chunk
	var key int64
	if _, err := pgx.ForEachRow(rows, []any{&key, &c.StoreID, &c.FileID, &c.Index, &c.Text, &c.Page, &c.Section, &c.Hash, &c.Tokens}, func() error {
		c.Key = uint64(key)
		out[c.Key] = c
		return nil
	}); err != nil {
		return nil, opError("read chunks", err)
	}
	return out, nil
}

// Keyword implements rag.Repo with Postgres full-text search: the query's
// words, ORed, against the chunks' english tsvector, ranked by BM25
// (kb_bm25.go). The client's
// text is split into words first, so none of it is read as tsquery
// syntax.
func (db *DB) Keyword(ctx context.Context, storeID, query string, fn func(key uint64, score float64) bool) error {
	words := keywords(query)
	if len(words) == 0 {
		return nil
	}
	if err := db.open(ctx); err != nil {
		return err
	}
	n, avgdl, err := db.bm25Stats(ctx, storeID)
	if err != nil {
		return opError("keyword search", err)
	}
	rows, err := db.pool.Query(ctx, keywordSQL("", ""), storeID, words, n, avgdl)
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
	if err := rows.Err(); err != nil {
		return opError("keyword search", err)
	}
	return nil
}

// keywords returns the distinct lower-cased words of q, at most 64,
// without English stop words unless q has nothing else (as the sqlite
// backend's ftsQuery).
func keywords(q string) []string {
	words := strings.FieldsFunc(q, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
	content := slices.ContainsFunc(words, func(w string) bool { return !stopWords[strings.ToLower(w)] })
	seen := map[string]bool{}
	var out []string
	for _, w := range words {
		w = strings.ToLower(w)
		if seen[w] || len(seen) >= 64 || content && stopWords[w] {
			continue
		}
		seen[w] = true
		out = append(out, w)
	}
	return out
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

// Claim implements rag.Repo. The lease runs by the database's clock.
func (db *DB) Claim(ctx context.Context, storeID, fileID, owner string, ttl time.Duration) (bool, error) {
	if err := db.open(ctx); err != nil {
		return false, err
	}
	tag, err := db.pool.Exec(ctx, `UPDATE kb_store_files SET lease_owner = $3, lease_until = clock_timestamp() + $4 * interval '1 microsecond'
		WHERE store_id = $1 AND file_id = $2 AND status = 'in_progress' AND (lease_owner = $3 OR lease_until < clock_timestamp())`,
		storeID, fileID, owner, ttl.Microseconds())
	if err != nil {
		return false, opError("claim vector store file", err)
	}
	return tag.RowsAffected() > 0, nil
}

// Release implements rag.Repo.
func (db *DB) Release(ctx context.Context, storeID, fileID, owner string) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	_, err := db.pool.Exec(ctx, "UPDATE kb_store_files SET lease_owner = '', lease_until = '-infinity' WHERE store_id = $1 AND file_id = $2 AND lease_owner = $3",
		storeID, fileID, owner)
	if err != nil {
		return opError("release vector store file", err)
	}
	return nil
}
