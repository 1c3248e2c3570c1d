package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/vector"
)

// ErrNoVectors means the database cannot hold pgvector's vectors: the
// vector extension is not installed on the server, or the role may not
// create it.
var ErrNoVectors = errors.New("the vector extension (pgvector) is not available")

// VectorDB is a DB whose knowledge bases search their vectors in Postgres
// with pgvector: it implements rag.VectorRepo, so that the replicas
// sharing the database search one HNSW index and no replica keeps one in
// memory. Chunks keep their bytea vector (the source of truth) and add an
// embedding column of pgvector's type, indexed with HNSW (cosine) by
// dimension: a partial index per dimension the stores use, created when a
// chunk of that dimension is first stored. It is safe for concurrent use.
//
// Every replica of a deployment must use a VectorDB once one does: a
// chunk stored through a plain DB has no embedding until the next
// WithVectors backfills it.
type VectorDB struct {
	*DB
	// ext is the quoted schema of the extension, so that its type and
	// operators resolve whatever the search_path.
	ext string
	// iterative is whether pgvector continues an HNSW scan past
	// ef_search until enough rows pass the filter (0.8 on).
	iterative bool
	// indexed are the dimensions whose HNSW index exists.
	indexed sync.Map

	// isSet is whether ext and iterative are known and the schema is
	// set up (ready); setupMu serialises the setting up.
	isSet   atomic.Bool
	setupMu sync.Mutex
}

var (
	_ rag.Repo       = (*VectorDB)(nil)
	_ rag.VectorRepo = (*VectorDB)(nil)
)

// vectorLock is the advisory lock key of the vector schema changes:
// "bulwark-vectors" read as an integer, like migrateLock.
const vectorLock int64 = 0x62756c7761726b76

// maxIndexedDim is the most dimensions pgvector's HNSW indexes: vectors
// of more are searched exactly.
const maxIndexedDim = 2000

// WithVectors returns db searching its knowledge bases with pgvector: it
// creates the vector extension when the server has it and it is not
// there yet, adds the embedding column to the chunks and fills it in for
// the chunks stored without one. A server without pgvector is
// ErrNoVectors: db then works as it is, its vectors indexed in memory by
// each replica. An unreachable server is tenant.ErrUnavailable; LazyVectors
// is the VectorDB that sets up once it is reached.
func (db *DB) WithVectors(ctx context.Context) (*VectorDB, error) {
	v := db.LazyVectors()
	if err := v.ready(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

// LazyVectors returns db searching its knowledge bases with pgvector, set up
// (as WithVectors does) by the first call of a method that needs it which
// reaches the server, as Open connects and migrates: a replica started
// while Postgres is unreachable serves its knowledge bases once it is
// back, without a restart. Until then those calls fail with
// tenant.ErrUnavailable; on a server without pgvector, with ErrNoVectors.
func (db *DB) LazyVectors() *VectorDB { return &VectorDB{DB: db} }

// ready sets v up unless it is already.
func (v *VectorDB) ready(ctx context.Context) error {
	if v.isSet.Load() {
		return nil
	}
	v.setupMu.Lock()
	defer v.setupMu.Unlock()
	if v.isSet.Load() {
		return nil
	}
	if err := v.setup(ctx); err != nil {
		return err
	}
	v.isSet.Store(true)
	return nil
}

// setup creates the extension and the embedding column, backfills the
// column and makes sure of the HNSW index of each dimension in use.
func (v *VectorDB) setup(ctx context.Context) error {
	db := v.DB
	if err := db.open(ctx); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", vectorLock); err != nil {
			return err
		}
		var available bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')").Scan(&available); err != nil {
			return err
		}
		if !available {
			return ErrNoVectors
		}
		if _, err := tx.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS vector"); err != nil {
			return fmt.Errorf("%w: %w", ErrNoVectors, err)
		}
		var schema, version string
		if err := tx.QueryRow(ctx, `SELECT n.nspname, e.extversion FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
			WHERE e.extname = 'vector'`).Scan(&schema, &version); err != nil {
			return err
		}
		v.ext = pgx.Identifier{schema}.Sanitize()
		v.iterative = versionAtLeast(version, 0, 8)
		_, err := tx.Exec(ctx, "ALTER TABLE kb_chunks ADD COLUMN IF NOT EXISTS embedding "+v.ext+".vector")
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNoVectors) {
			return err
		}
		return opError("set up vectors", err)
	}
	if err := v.backfill(ctx); err != nil {
		return opError("set up vectors", err)
	}
	rows, err := db.pool.Query(ctx, "SELECT DISTINCT "+v.ext+".vector_dims(embedding) FROM kb_chunks WHERE embedding IS NOT NULL")
	if err != nil {
		return opError("set up vectors", err)
	}
	dims, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return opError("set up vectors", err)
	}
	for _, d := range dims {
		if err := v.ensureIndex(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// versionAtLeast reports whether the version "major.minor[.patch]" is at
// least major.minor.
func versionAtLeast(version string, major, minor int) bool {
	parts := strings.SplitN(version, ".", 3)
	maj, err := strconv.Atoi(parts[0])
	if err != nil {
		return false
	}
	mnr := 0
	if len(parts) > 1 {
		mnr, _ = strconv.Atoi(parts[1])
	}
	return maj > major || maj == major && mnr >= minor
}

// backfill gives every chunk stored without an embedding its own.
func (v *VectorDB) backfill(ctx context.Context) error {
	for {
		rows, err := v.pool.Query(ctx, "SELECT id, vector FROM kb_chunks WHERE embedding IS NULL ORDER BY id LIMIT 500")
		if err != nil {
			return err
		}
		type row struct {
			id  int64
			vec []byte
		}
		todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.id, &x.vec)
			return x, err
		})
		if err != nil || len(todo) == 0 {
			return err
		}
		b := &pgx.Batch{}
		for _, x := range todo {
			b.Queue("UPDATE kb_chunks SET embedding = $1::"+v.ext+".vector WHERE id = $2", vectorText(decodeVector(x.vec)), x.id)
		}
		if err := v.pool.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
	}
}

// ensureIndex creates the HNSW index of the vectors of dim dimensions
// unless it exists.
func (v *VectorDB) ensureIndex(ctx context.Context, dim int) error {
	if dim <= 0 || dim > maxIndexedDim {
		return nil
	}
	if _, ok := v.indexed.Load(dim); ok {
		return nil
	}
	d := strconv.Itoa(dim)
	err := pgx.BeginFunc(ctx, v.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", vectorLock); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "CREATE INDEX IF NOT EXISTS kb_chunks_embedding_"+d+" ON kb_chunks USING hnsw ((embedding::"+
			v.ext+".vector("+d+")) "+v.ext+".vector_cosine_ops) WHERE "+v.ext+".vector_dims(embedding) = "+d)
		return err
	})
	if err != nil {
		return opError("create vector index", err)
	}
	v.indexed.Store(dim, true)
	return nil
}

// vectorText is v in pgvector's text form.
func vectorText(v []float32) string {
	b := make([]byte, 0, 2+len(v)*10)
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
	}
	return string(append(b, ']'))
}

// PutChunks implements rag.Repo, storing each chunk's embedding too.
func (v *VectorDB) PutChunks(ctx context.Context, chunks []rag.Chunk) ([]uint64, error) {
	if err := v.ready(ctx); err != nil {
		return nil, err
	}
	for _, c := range chunks {
		if err := v.ensureIndex(ctx, len(c.Vector)); err != nil {
			return nil, err
		}
	}
	return v.putChunks(ctx, chunks, `INSERT INTO kb_chunks (store_id, file_id, idx, text, page, section, hash, tokens, vector, embedding)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::`+v.ext+`.vector) RETURNING id`, true)
}

// SearchVectors implements rag.VectorRepo: the store's chunks by cosine
// distance through the HNSW index of q's dimension, the filter applied
// while the index is scanned (pgvector's iterative scan, 0.8 on; before
// it, to the ef_search nearest).
func (v *VectorDB) SearchVectors(ctx context.Context, storeID string, q []float32, k int, f *rag.Filter) ([]vector.Hit, error) {
	if len(q) == 0 || k <= 0 {
		return nil, nil
	}
	if err := v.ready(ctx); err != nil {
		return nil, err
	}
	sql, a, err := v.searchSQL(storeID, q, k, f)
	if err != nil {
		return nil, err
	}
	var hits []vector.Hit
	err = pgx.BeginFunc(ctx, v.pool, func(tx pgx.Tx) error {
		if err := v.setSearch(ctx, tx, k); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sql, a...)
		if err != nil {
			return err
		}
		var key int64
		var dist float64
		_, err = pgx.ForEachRow(rows, []any{&key, &dist}, func() error {
			hits = append(hits, vector.Hit{Key: uint64(key), Score: float32(1 - dist)})
			return nil
		})
		if err != nil || len(hits) > 0 {
			return err
		}
		// No hit: say so if the store's vectors are of another dimension.
		var dim int
		switch err := tx.QueryRow(ctx, "SELECT "+v.ext+".vector_dims(embedding) FROM kb_chunks WHERE store_id = $1 AND embedding IS NOT NULL LIMIT 1",
			storeID).Scan(&dim); {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			return err
		case dim != len(q):
			return fmt.Errorf("store %s holds vectors of %d dimensions, the query %d: %w", storeID, dim, len(q), vector.ErrDimension)
		}
		return nil
	})
	if errors.Is(err, vector.ErrDimension) {
		return nil, err
	}
	if err != nil {
		return nil, opError("vector search", err)
	}
	return hits, nil
}

// setSearch sets the HNSW scan of a search for k rows in tx.
func (v *VectorDB) setSearch(ctx context.Context, tx pgx.Tx, k int) error {
	if _, err := tx.Exec(ctx, "SELECT set_config('hnsw.ef_search', $1, true)", strconv.Itoa(min(max(k, 40), 1000))); err != nil {
		return err
	}
	if v.iterative {
		if _, err := tx.Exec(ctx, "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)"); err != nil {
			return err
		}
	}
	return nil
}

// searchSQL is SearchVectors' query and its arguments. Its ORDER BY is
// the expression of the dimension's HNSW index, and its WHERE holds the
// index's predicate, so that the planner can scan the index.
func (v *VectorDB) searchSQL(storeID string, q []float32, k int, f *rag.Filter) (string, []any, error) {
	a := args{storeID, vectorText(q)}
	cond, err := filterSQL(f, &a)
	if err != nil {
		return "", nil, err
	}
	d := strconv.Itoa(len(q))
	typ := v.ext + ".vector(" + d + ")"
	sql := "SELECT c.id, (c.embedding::" + typ + ") OPERATOR(" + v.ext + ".<=>) ($2::" + typ + ") AS distance FROM kb_chunks c"
	if cond != "" {
		sql += " JOIN kb_store_files sf ON sf.store_id = c.store_id AND sf.file_id = c.file_id"
	}
	sql += " WHERE c.store_id = $1 AND " + v.ext + ".vector_dims(c.embedding) = " + d
	if cond != "" {
		sql += " AND " + cond
	}
	sql += " ORDER BY distance LIMIT " + a.add(k)
	// An iterative scan may return rows slightly out of order.
	return "SELECT id, distance FROM (" + sql + ") h ORDER BY distance, id", a, nil
}

// SearchKeyword implements rag.VectorRepo: Keyword's search, the filter
// applied in it.
func (v *VectorDB) SearchKeyword(ctx context.Context, storeID, query string, k int, f *rag.Filter) ([]uint64, error) {
	words := keywords(query)
	if len(words) == 0 || k <= 0 {
		return nil, nil
	}
	if err := v.open(ctx); err != nil {
		return nil, err
	}
	n, avgdl, err := v.bm25Stats(ctx, storeID)
	if err != nil {
		return nil, opError("keyword search", err)
	}
	a := args{storeID, words, n, avgdl}
	cond, err := filterSQL(f, &a)
	if err != nil {
		return nil, err
	}
	rows, err := v.pool.Query(ctx, keywordSQL(cond, a.add(k)), a...)
	if err != nil {
		return nil, opError("keyword search", err)
	}
	var keys []uint64
	var key int64
	var score float64
	if _, err := pgx.ForEachRow(rows, []any{&key, &score}, func() error {
		keys = append(keys, uint64(key))
		return nil
	}); err != nil {
		return nil, opError("keyword search", err)
	}
	return keys, nil
}
