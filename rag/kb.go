package rag

import (
	"context"
	"errors"
	"time"

	"github.com/bulwark-ai/bulwark/rag/chunk"
	"github.com/bulwark-ai/bulwark/vector"
)

// Status is the state of a file's ingestion into a store, or of a batch,
// as OpenAI's Vector Stores API names it.
type Status string

// The statuses.
const (
	InProgress Status = "in_progress"
	Completed  Status = "completed"
	Failed     Status = "failed"
	Cancelled  Status = "cancelled"
)

// File is an uploaded file (OpenAI's Files API). Its content is stored with
// it; the tenant owns it.
type File struct {
	ID        string
	TenantID  string
	Filename  string
	Purpose   string
	Bytes     int64
	SHA256    string
	CreatedAt time.Time
}

// Store is a vector store: the chunks of the files attached to it, their
// embedding vectors and a keyword index, searched together.
type Store struct {
	ID       string
	TenantID string
	Name     string
	Metadata map[string]string
	// EmbedModel is the alias the store's chunks and queries are embedded
	// with; fixed at creation, since vectors of two models do not compare.
	EmbedModel   string
	CreatedAt    time.Time
	LastActiveAt time.Time
	// Counts are the store's files by status (filled in by reads).
	Counts     FileCounts
	UsageBytes int64
}

// FileCounts are a store's or a batch's files by status.
type FileCounts struct {
	InProgress, Completed, Failed, Cancelled int
}

// Total is the number of files counted.
func (c FileCounts) Total() int { return c.InProgress + c.Completed + c.Failed + c.Cancelled }

// StoreFile is a file attached to a store: the unit of ingestion.
type StoreFile struct {
	StoreID  string
	FileID   string
	Filename string // the file's, for reads
	TenantID string
	BatchID  string
	Status   Status
	// LastError is why ingestion failed (Status Failed); its Code is one
	// of OpenAI's: server_error, unsupported_file, invalid_file.
	LastError  *FileError
	Chunking   chunk.Strategy
	Attributes map[string]any
	// UsageBytes is the size of the file's stored chunks.
	UsageBytes int64
	CreatedAt  time.Time
}

// FileError is why a file failed to ingest.
type FileError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Batch is a group of files attached together (file_batches).
type Batch struct {
	ID        string
	StoreID   string
	TenantID  string
	Status    Status
	CreatedAt time.Time
	Counts    FileCounts
}

// Chunk is a stored piece of a file with its vector. Key is the vector
// index's key (the row id in the store's database).
type Chunk struct {
	Key     uint64
	StoreID string
	FileID  string
	Index   int
	Text    string
	Page    int
	Section string
	Hash    string
	Tokens  int
	Vector  []float32
}

// Errors of the knowledge base.
var (
	// ErrNotFound: no such object, or one of another tenant (the two are
	// not told apart).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the object exists or is in a state that forbids the
	// change.
	ErrConflict = errors.New("conflict")
)

// Page is a cursor over a list: up to Limit objects after (or before) an
// id, in creation order (Desc: newest first), as OpenAI's list endpoints
// page.
type Page struct {
	Limit  int
	After  string
	Before string
	Desc   bool
}

// Repo is the durable state of the knowledge bases: the sqlite backend in
// the embedded shape. Every read and write is scoped to a tenant: an
// object of another tenant is ErrNotFound. Implementations are safe for
// concurrent use.
type Repo interface {
	PutFile(ctx context.Context, f File, content []byte) error
	File(ctx context.Context, tenantID, id string) (File, error)
	FileContent(ctx context.Context, tenantID, id string) ([]byte, error)
	Files(ctx context.Context, tenantID, purpose string, p Page) ([]File, bool, error)
	// DeleteFile removes a file and, from every store, its chunks; it
	// returns the keys of the removed chunks' vectors by store.
	DeleteFile(ctx context.Context, tenantID, id string) (map[string][]uint64, error)

	PutStore(ctx context.Context, s Store) error
	Store(ctx context.Context, tenantID, id string) (Store, error)
	Stores(ctx context.Context, tenantID string, p Page) ([]Store, bool, error)
	UpdateStore(ctx context.Context, tenantID, id string, name *string, metadata map[string]string) (Store, error)
	DeleteStore(ctx context.Context, tenantID, id string) error
	// AllStores lists every tenant's stores, to rebuild indexes on start.
	AllStores(ctx context.Context) ([]Store, error)

	// AttachFile adds a file to a store in progress; attaching a file
	// that is attached already is ErrConflict unless it failed or was
	// cancelled, in which case it starts again.
	AttachFile(ctx context.Context, sf StoreFile) error
	StoreFile(ctx context.Context, tenantID, storeID, fileID string) (StoreFile, error)
	// UpdateAttributes replaces the attributes of a file of a store (nil:
	// none) and returns the file; the repo's own filtered searches
	// (VectorRepo) see them at once.
	UpdateAttributes(ctx context.Context, tenantID, storeID, fileID string, attrs map[string]any) (StoreFile, error)
	StoreFiles(ctx context.Context, tenantID, storeID, batchID string, status Status, p Page) ([]StoreFile, bool, error)
	// SetStatus moves a file of a store to status (with why it failed);
	// a file no longer in progress is left as it is (false).
	SetStatus(ctx context.Context, storeID, fileID string, status Status, why *FileError) (bool, error)
	// Pending lists every store file in progress, oldest first: the
	// ingestion queue after a restart.
	Pending(ctx context.Context) ([]StoreFile, error)
	// Claim takes or renews owner's lease on a file in progress for ttl
	// (by the repo's clock): it fails (false) while another owner holds
	// a lease that has not run out, and when the file is not in
	// progress. Replicas sharing a repo claim a file before ingesting
	// it, so each file is ingested by one of them at a time, and a file
	// whose replica died is taken over once its lease runs out.
	Claim(ctx context.Context, storeID, fileID, owner string, ttl time.Duration) (bool, error)
	// Release gives up owner's lease on a file, so that another replica
	// may take it at once; a lease owner does not hold is left alone.
	Release(ctx context.Context, storeID, fileID, owner string) error
	// DetachFile removes a file from a store with its chunks, returning
	// their keys.
	DetachFile(ctx context.Context, tenantID, storeID, fileID string) ([]uint64, error)

	PutBatch(ctx context.Context, b Batch, files []StoreFile) error
	Batch(ctx context.Context, tenantID, storeID, id string) (Batch, error)
	// CancelBatch cancels a batch's files still in progress.
	CancelBatch(ctx context.Context, tenantID, storeID, id string) (Batch, error)

	// ChunkHashes returns the hashes of a file's stored chunks by index.
	ChunkHashes(ctx context.Context, storeID, fileID string) (map[int]string, error)
	// PutChunks stores chunks (one transaction) and fills in each one's
	// Key; a chunk whose (store, file, index) is stored already replaces
	// it under a new key (a key names one vector for good), and the
	// replaced keys are returned.
	PutChunks(ctx context.Context, chunks []Chunk) (replaced []uint64, err error)
	// ChunkFiles calls fn with the key and file of each of a store's
	// chunks, in key order.
	ChunkFiles(ctx context.Context, storeID string, fn func(key uint64, fileID string) error) error
	// TrimChunks removes a file's chunks from index n on (a re-ingested
	// file that got shorter), returning their keys.
	TrimChunks(ctx context.Context, storeID, fileID string, n int) ([]uint64, error)
	// Vectors calls fn with every chunk vector of a store whose key is
	// above after, in key order, with the chunk's file.
	Vectors(ctx context.Context, storeID string, after uint64, fn func(key uint64, fileID string, v []float32) error) error
	// VectorsByHash returns the vectors of a store's chunks with these
	// content hashes, whatever file they are of: a file uploaded again
	// with a few chunks changed is embedded for those chunks only.
	VectorsByHash(ctx context.Context, storeID string, hashes []string) (map[string][]float32, error)
	// FileChunks returns a file's stored chunks in a store in index order
	// (text and place, no vector).
	FileChunks(ctx context.Context, storeID, fileID string) ([]Chunk, error)
	// Chunks returns stored chunks by key (text and place, no vector).
	Chunks(ctx context.Context, keys []uint64) (map[uint64]Chunk, error)
	// Keyword searches a store's chunks by keywords, best first (BM25),
	// calling fn with each until it returns false.
	Keyword(ctx context.Context, storeID, query string, fn func(key uint64, score float64) bool) error
}

// VectorRepo is a Repo that indexes and searches its stores' vectors
// itself (Postgres with pgvector): the Service then keeps no vector index
// in memory, so every replica sharing the repo searches one index and
// sees every other replica's writes at once. Both searches apply the
// filter to the attributes of the chunk's file inside the search, not to
// its top k.
type VectorRepo interface {
	// SearchVectors returns up to k of a store's chunks nearest to q
	// (cosine similarity), best first; a q whose dimension is not the
	// store's vectors' is vector.ErrDimension.
	SearchVectors(ctx context.Context, storeID string, q []float32, k int, f *Filter) ([]vector.Hit, error)
	// SearchKeyword returns the keys of up to k of a store's chunks
	// matching the query's words, best first, as Repo.Keyword ranks them.
	SearchKeyword(ctx context.Context, storeID, query string, k int, f *Filter) ([]uint64, error)
}
