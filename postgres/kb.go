package postgres

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwark-ai/bulwark/rag"
)

// The knowledge bases (rag.Repo): files and stores here, the ingestion
// queue and the chunks in kb_ingest.go. Lists page by each table's seq
// (creation order); vectors are bytea, the keyword index a tsvector.

var _ rag.Repo = (*DB)(nil)

// PutFile implements rag.Repo.
func (db *DB) PutFile(ctx context.Context, f rag.File, content []byte) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	if content == nil {
		content = []byte{} // an empty file, not a NULL
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO kb_files (id, tenant_id, filename, purpose, bytes, sha256, content, created_ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, f.ID, f.TenantID, f.Filename, f.Purpose, f.Bytes, f.SHA256, content, unixNano(f.CreatedAt))
	if pgCode(err) == codeUniqueViolation {
		return fmt.Errorf("put file %s: %w", f.ID, rag.ErrConflict)
	}
	if err != nil {
		return opError("put file", err)
	}
	return nil
}

const fileCols = "id, tenant_id, filename, purpose, bytes, sha256, created_ns"

func scanFile(s pgx.Row) (rag.File, error) {
	var f rag.File
	var created int64
	err := s.Scan(&f.ID, &f.TenantID, &f.Filename, &f.Purpose, &f.Bytes, &f.SHA256, &created)
	f.CreatedAt = fromUnixNano(created)
	return f, err
}

// File implements rag.Repo.
func (db *DB) File(ctx context.Context, tenantID, id string) (rag.File, error) {
	if err := db.open(ctx); err != nil {
		return rag.File{}, err
	}
	f, err := scanFile(db.pool.QueryRow(ctx, "SELECT "+fileCols+" FROM kb_files WHERE id = $1 AND tenant_id = $2", id, tenantID))
	return f, kbError("read file", err)
}

// FileContent implements rag.Repo.
func (db *DB) FileContent(ctx context.Context, tenantID, id string) ([]byte, error) {
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	var b []byte
	err := db.pool.QueryRow(ctx, "SELECT content FROM kb_files WHERE id = $1 AND tenant_id = $2", id, tenantID).Scan(&b)
	return b, kbError("read file content", err)
}

// kbError maps err, the failure of op, to the knowledge base's errors: no
// rows is rag.ErrNotFound, a unique violation rag.ErrConflict.
func kbError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, rag.ErrNotFound) || errors.Is(err, rag.ErrConflict):
		return fmt.Errorf("%s: %w", op, err)
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%s: %w", op, rag.ErrNotFound)
	case pgCode(err) == codeUniqueViolation:
		return fmt.Errorf("%s: %w: %w", op, rag.ErrConflict, err)
	}
	return opError(op, err)
}

// args collects a query's arguments; add returns the placeholder of v.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// page returns the SQL that pages rows by their seq column after or
// before the row cursor selects the seq of, then orders and limits them,
// adding its arguments to a.
func page(seq string, p rag.Page, a *args, cursor func(a *args, id string) string) string {
	cmpAfter, cmpBefore, order := ">", "<", "ASC"
	if p.Desc {
		cmpAfter, cmpBefore, order = "<", ">", "DESC"
	}
	var q string
	if p.After != "" {
		q += " AND " + seq + " " + cmpAfter + " (" + cursor(a, p.After) + ")"
	}
	if p.Before != "" {
		q += " AND " + seq + " " + cmpBefore + " (" + cursor(a, p.Before) + ")"
	}
	return q + " ORDER BY " + seq + " " + order + " LIMIT " + a.add(p.Limit+1)
}

// byID is the cursor of a table whose rows are named by id, looked up
// among the tenant's own rows: another tenant's id is no cursor.
func byID(table, tenantID string) func(a *args, id string) string {
	return func(a *args, id string) string {
		return "SELECT seq FROM " + table + " WHERE id = " + a.add(id) + " AND tenant_id = " + a.add(tenantID)
	}
}

// list runs q and scans its rows, returning at most limit of them and
// whether there were more.
func list[T any](ctx context.Context, db *DB, op, q string, a args, limit int, scan func(pgx.Row) (T, error)) ([]T, bool, error) {
	out, err := collect(ctx, db, q, a, scan)
	if err != nil {
		return nil, false, opError(op, err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

func collect[T any](ctx context.Context, db *DB, q string, a args, scan func(pgx.Row) (T, error)) ([]T, error) {
	rows, err := db.pool.Query(ctx, q, a...)
	if err != nil {
		return nil, err
	}
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

// Files implements rag.Repo.
func (db *DB) Files(ctx context.Context, tenantID, purpose string, p rag.Page) ([]rag.File, bool, error) {
	if err := db.open(ctx); err != nil {
		return nil, false, err
	}
	var a args
	q := "SELECT " + fileCols + " FROM kb_files WHERE tenant_id = " + a.add(tenantID)
	if purpose != "" {
		q += " AND purpose = " + a.add(purpose)
	}
	q += page("seq", p, &a, byID("kb_files", tenantID))
	return list(ctx, db, "list files", q, a, p.Limit, scanFile)
}

// DeleteFile implements rag.Repo.
func (db *DB) DeleteFile(ctx context.Context, tenantID, id string) (map[string][]uint64, error) {
	removed := map[string][]uint64{}
	err := db.kbTx(ctx, "delete file", func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, "SELECT 1 FROM kb_files WHERE id = $1 AND tenant_id = $2 FOR UPDATE", id, tenantID).Scan(&one); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "DELETE FROM kb_chunks WHERE file_id = $1 RETURNING store_id, id", id)
		if err != nil {
			return err
		}
		var store string
		var key int64
		if _, err := pgx.ForEachRow(rows, []any{&store, &key}, func() error {
			removed[store] = append(removed[store], uint64(key))
			return nil
		}); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM kb_files WHERE id = $1", id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// kbTx runs fn in a transaction, mapping its error with kbError.
func (db *DB) kbTx(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	return kbError(op, pgx.BeginFunc(ctx, db.pool, fn))
}

// PutStore implements rag.Repo.
func (db *DB) PutStore(ctx context.Context, s rag.Store) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	meta, err := jsonText(jsonObject(s.Metadata))
	if err != nil {
		return fmt.Errorf("put vector store: %w", err)
	}
	_, err = db.pool.Exec(ctx, `INSERT INTO kb_stores (id, tenant_id, name, metadata, embed_model, created_ns, last_active_ns)
		VALUES ($1, $2, $3, $4::jsonb, $5, $6, $6)`, s.ID, s.TenantID, s.Name, meta, s.EmbedModel, unixNano(s.CreatedAt))
	if pgCode(err) == codeUniqueViolation {
		return fmt.Errorf("put vector store %s: %w", s.ID, rag.ErrConflict)
	}
	if err != nil {
		return opError("put vector store", err)
	}
	return nil
}

const storeCols = `s.id, s.tenant_id, s.name, s.metadata, s.embed_model, s.created_ns, s.last_active_ns,
	c.in_progress, c.completed, c.failed, c.cancelled, c.usage_bytes
	FROM kb_stores s CROSS JOIN LATERAL (SELECT
		count(*) FILTER (WHERE f.status = 'in_progress') AS in_progress,
		count(*) FILTER (WHERE f.status = 'completed') AS completed,
		count(*) FILTER (WHERE f.status = 'failed') AS failed,
		count(*) FILTER (WHERE f.status = 'cancelled') AS cancelled,
		coalesce(sum(f.usage_bytes), 0) AS usage_bytes
		FROM kb_store_files f WHERE f.store_id = s.id) c`

func scanStore(sc pgx.Row) (rag.Store, error) {
	var s rag.Store
	var created, active int64
	c := &s.Counts
	err := sc.Scan(&s.ID, &s.TenantID, &s.Name, &s.Metadata, &s.EmbedModel, &created, &active,
		&c.InProgress, &c.Completed, &c.Failed, &c.Cancelled, &s.UsageBytes)
	s.CreatedAt, s.LastActiveAt = fromUnixNano(created), fromUnixNano(active)
	return s, err
}

// Store implements rag.Repo.
func (db *DB) Store(ctx context.Context, tenantID, id string) (rag.Store, error) {
	if err := db.open(ctx); err != nil {
		return rag.Store{}, err
	}
	s, err := scanStore(db.pool.QueryRow(ctx, "SELECT "+storeCols+" WHERE s.id = $1 AND s.tenant_id = $2", id, tenantID))
	return s, kbError("read vector store", err)
}

// Stores implements rag.Repo.
func (db *DB) Stores(ctx context.Context, tenantID string, p rag.Page) ([]rag.Store, bool, error) {
	if err := db.open(ctx); err != nil {
		return nil, false, err
	}
	var a args
	q := "SELECT " + storeCols + " WHERE s.tenant_id = " + a.add(tenantID)
	q += page("s.seq", p, &a, byID("kb_stores", tenantID))
	return list(ctx, db, "list vector stores", q, a, p.Limit, scanStore)
}

// AllStores implements rag.Repo.
func (db *DB) AllStores(ctx context.Context) ([]rag.Store, error) {
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	out, err := collect(ctx, db, "SELECT "+storeCols+" ORDER BY s.seq", nil, scanStore)
	if err != nil {
		return nil, opError("list vector stores", err)
	}
	return out, nil
}

// UpdateStore implements rag.Repo.
func (db *DB) UpdateStore(ctx context.Context, tenantID, id string, name *string, metadata map[string]string) (rag.Store, error) {
	if err := db.open(ctx); err != nil {
		return rag.Store{}, err
	}
	var meta *string // NULL keeps the metadata
	if metadata != nil {
		m, err := jsonText(metadata)
		if err != nil {
			return rag.Store{}, fmt.Errorf("update vector store: %w", err)
		}
		meta = &m
	}
	tag, err := db.pool.Exec(ctx, `UPDATE kb_stores SET last_active_ns = $1, name = coalesce($2, name), metadata = coalesce($3::jsonb, metadata)
		WHERE id = $4 AND tenant_id = $5`, unixNano(time.Now()), name, meta, id, tenantID)
	if err != nil {
		return rag.Store{}, opError("update vector store", err)
	}
	if tag.RowsAffected() == 0 {
		return rag.Store{}, fmt.Errorf("update vector store: %w", rag.ErrNotFound)
	}
	return db.Store(ctx, tenantID, id)
}

// DeleteStore implements rag.Repo. Its files, batches and chunks go with
// it (ON DELETE CASCADE).
func (db *DB) DeleteStore(ctx context.Context, tenantID, id string) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	tag, err := db.pool.Exec(ctx, "DELETE FROM kb_stores WHERE id = $1 AND tenant_id = $2", id, tenantID)
	if err != nil {
		return opError("delete vector store", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete vector store: %w", rag.ErrNotFound)
	}
	return nil
}

// encodeVector and decodeVector store a vector as little-endian float32s,
// as the sqlite backend does.
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

// jsonText is v as JSON text, for a jsonb parameter ($n::jsonb): text
// encodes in every query mode, the simple protocol's included.
func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
