package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/rag"
)

var _ rag.Repo = (*DB)(nil)

// PutFile implements rag.Repo.
func (db *DB) PutFile(ctx context.Context, f rag.File, content []byte) error {
	if content == nil {
		content = []byte{} // an empty file, not a NULL
	}
	_, err := db.db.ExecContext(ctx, `INSERT INTO kb_files (id, tenant_id, filename, purpose, bytes, sha256, content, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, f.ID, f.TenantID, f.Filename, f.Purpose, f.Bytes, f.SHA256, content, formatTime(f.CreatedAt))
	if isUnique(err) {
		return fmt.Errorf("put file %s: %w", f.ID, rag.ErrConflict)
	}
	if err != nil {
		return opError("put file", err)
	}
	return nil
}

const fileCols = "id, tenant_id, filename, purpose, bytes, sha256, created_at"

func scanFile(s interface{ Scan(...any) error }) (rag.File, error) {
	var f rag.File
	var created string
	if err := s.Scan(&f.ID, &f.TenantID, &f.Filename, &f.Purpose, &f.Bytes, &f.SHA256, &created); err != nil {
		return f, err
	}
	var err error
	f.CreatedAt, err = parseTime(created)
	return f, err
}

// File implements rag.Repo.
func (db *DB) File(ctx context.Context, tenantID, id string) (rag.File, error) {
	f, err := scanFile(db.db.QueryRowContext(ctx, "SELECT "+fileCols+" FROM kb_files WHERE id = ? AND tenant_id = ?", id, tenantID))
	return f, notFound("read file", err)
}

// FileContent implements rag.Repo.
func (db *DB) FileContent(ctx context.Context, tenantID, id string) ([]byte, error) {
	var b []byte
	err := db.db.QueryRowContext(ctx, "SELECT content FROM kb_files WHERE id = ? AND tenant_id = ?", id, tenantID).Scan(&b)
	return b, notFound("read file content", err)
}

func notFound(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, rag.ErrNotFound)
	}
	if err != nil {
		return opError(op, err)
	}
	return nil
}

// page returns the SQL that pages a table by rowid after or before a
// cursor id, and its ordering, with the query's arguments appended.
// The cursor is looked up among the tenant's own rows: another tenant's id
// is no cursor (and says nothing about that tenant's objects).
func page(table, tenantID string, p rag.Page, args []any) (string, []any) {
	var b strings.Builder
	cmpAfter, order := ">", "ASC"
	if p.Desc {
		cmpAfter, order = "<", "DESC"
	}
	if p.After != "" {
		fmt.Fprintf(&b, " AND rowid %s (SELECT rowid FROM %s WHERE id = ? AND tenant_id = ?)", cmpAfter, table)
		args = append(args, p.After, tenantID)
	}
	if p.Before != "" {
		cmp := "<"
		if p.Desc {
			cmp = ">"
		}
		fmt.Fprintf(&b, " AND rowid %s (SELECT rowid FROM %s WHERE id = ? AND tenant_id = ?)", cmp, table)
		args = append(args, p.Before, tenantID)
	}
	fmt.Fprintf(&b, " ORDER BY rowid %s LIMIT ?", order)
	return b.String(), append(args, p.Limit+1)
}

// Files implements rag.Repo.
func (db *DB) Files(ctx context.Context, tenantID, purpose string, p rag.Page) ([]rag.File, bool, error) {
	q := "SELECT " + fileCols + " FROM kb_files WHERE tenant_id = ?"
	args := []any{tenantID}
	if purpose != "" {
		q += " AND purpose = ?"
		args = append(args, purpose)
	}
	tail, args := page("kb_files", tenantID, p, args)
	rows, err := db.db.QueryContext(ctx, q+tail, args...)
	if err != nil {
		return nil, false, opError("list files", err)
	}
	defer rows.Close()
	var out []rag.File
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, false, opError("list files", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, false, opError("list files", err)
	}
	more := len(out) > p.Limit
	if more {
		out = out[:p.Limit]
	}
	return out, more, nil
}

// DeleteFile implements rag.Repo.
func (db *DB) DeleteFile(ctx context.Context, tenantID, id string) (map[string][]uint64, error) {
	removed := map[string][]uint64{}
	err := db.tx(ctx, "delete file", func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM kb_files WHERE id = ? AND tenant_id = ?", id, tenantID).Scan(&one); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, "DELETE FROM kb_chunks WHERE file_id = ? RETURNING store_id, id", id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var store string
			var key int64
			if err := rows.Scan(&store, &key); err != nil {
				rows.Close()
				return err
			}
			removed[store] = append(removed[store], uint64(key))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM kb_files WHERE id = ?", id)
		return err
	})
	return removed, err
}

// tx runs fn in a write transaction, mapping "no rows" to rag.ErrNotFound.
func (db *DB) tx(ctx context.Context, op string, fn func(*sql.Tx) error) error {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return opError(op, err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		if errors.Is(err, rag.ErrNotFound) || errors.Is(err, rag.ErrConflict) {
			return fmt.Errorf("%s: %w", op, err)
		}
		return notFound(op, err)
	}
	if err := tx.Commit(); err != nil {
		return opError(op, err)
	}
	return nil
}

// PutStore implements rag.Repo.
func (db *DB) PutStore(ctx context.Context, s rag.Store) error {
	meta, err := json.Marshal(orEmpty(s.Metadata))
	if err != nil {
		return fmt.Errorf("put vector store: %w", err)
	}
	_, err = db.db.ExecContext(ctx, `INSERT INTO kb_stores (id, tenant_id, name, metadata, embed_model, created_at, last_active_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, s.ID, s.TenantID, s.Name, string(meta), s.EmbedModel, formatTime(s.CreatedAt), formatTime(s.CreatedAt))
	if isUnique(err) {
		return fmt.Errorf("put vector store %s: %w", s.ID, rag.ErrConflict)
	}
	if err != nil {
		return opError("put vector store", err)
	}
	return nil
}

func orEmpty[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return m
}

const storeCols = `s.id, s.tenant_id, s.name, s.metadata, s.embed_model, s.created_at, s.last_active_at,
	(SELECT count(*) FROM kb_store_files f WHERE f.store_id = s.id AND f.status = 'in_progress'),
	(SELECT count(*) FROM kb_store_files f WHERE f.store_id = s.id AND f.status = 'completed'),
	(SELECT count(*) FROM kb_store_files f WHERE f.store_id = s.id AND f.status = 'failed'),
	(SELECT count(*) FROM kb_store_files f WHERE f.store_id = s.id AND f.status = 'cancelled'),
	(SELECT coalesce(sum(f.usage_bytes), 0) FROM kb_store_files f WHERE f.store_id = s.id)`

func scanStore(sc interface{ Scan(...any) error }) (rag.Store, error) {
	var s rag.Store
	var meta, created, active string
	c := &s.Counts
	if err := sc.Scan(&s.ID, &s.TenantID, &s.Name, &meta, &s.EmbedModel, &created, &active,
		&c.InProgress, &c.Completed, &c.Failed, &c.Cancelled, &s.UsageBytes); err != nil {
		return s, err
	}
	if err := json.Unmarshal([]byte(meta), &s.Metadata); err != nil {
		return s, fmt.Errorf("stored metadata of %s: %w", s.ID, err)
	}
	var err error
	if s.CreatedAt, err = parseTime(created); err != nil {
		return s, err
	}
	s.LastActiveAt, err = parseTime(active)
	return s, err
}

// Store implements rag.Repo.
func (db *DB) Store(ctx context.Context, tenantID, id string) (rag.Store, error) {
	s, err := scanStore(db.db.QueryRowContext(ctx, "SELECT "+storeCols+" FROM kb_stores s WHERE s.id = ? AND s.tenant_id = ?", id, tenantID))
	return s, notFound("read vector store", err)
}

// Stores implements rag.Repo.
func (db *DB) Stores(ctx context.Context, tenantID string, p rag.Page) ([]rag.Store, bool, error) {
	tail, args := page("kb_stores", tenantID, p, []any{tenantID})
	rows, err := db.db.QueryContext(ctx, "SELECT "+storeCols+" FROM kb_stores s WHERE s.tenant_id = ?"+tail, args...)
	if err != nil {
		return nil, false, opError("list vector stores", err)
	}
	out, err := collect(rows, scanStore)
	if err != nil {
		return nil, false, opError("list vector stores", err)
	}
	more := len(out) > p.Limit
	if more {
		out = out[:p.Limit]
	}
	return out, more, nil
}

// AllStores implements rag.Repo.
func (db *DB) AllStores(ctx context.Context) ([]rag.Store, error) {
	rows, err := db.db.QueryContext(ctx, "SELECT "+storeCols+" FROM kb_stores s ORDER BY s.rowid")
	if err != nil {
		return nil, opError("list vector stores", err)
	}
	out, err := collect(rows, scanStore)
	if err != nil {
		return nil, opError("list vector stores", err)
	}
	return out, nil
}

func collect[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// UpdateStore implements rag.Repo.
func (db *DB) UpdateStore(ctx context.Context, tenantID, id string, name *string, metadata map[string]string) (rag.Store, error) {
	err := db.tx(ctx, "update vector store", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE kb_stores SET last_active_at = ? WHERE id = ? AND tenant_id = ?", formatTime(time.Now()), id, tenantID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return rag.ErrNotFound
		}
		if name != nil {
			if _, err := tx.ExecContext(ctx, "UPDATE kb_stores SET name = ? WHERE id = ?", *name, id); err != nil {
				return err
			}
		}
		if metadata != nil {
			meta, err := json.Marshal(metadata)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE kb_stores SET metadata = ? WHERE id = ?", string(meta), id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return rag.Store{}, err
	}
	return db.Store(ctx, tenantID, id)
}

// DeleteStore implements rag.Repo.
func (db *DB) DeleteStore(ctx context.Context, tenantID, id string) error {
	return db.tx(ctx, "delete vector store", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM kb_stores WHERE id = ? AND tenant_id = ?", id, tenantID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return rag.ErrNotFound
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM kb_chunks WHERE store_id = ?", id)
		return err
	})
}

// encodeVector and decodeVector store a vector as little-endian float32s.
func encodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func decodeVector(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}
