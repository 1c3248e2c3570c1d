package rag

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/rag/chunk"
)

// CreateFile stores an uploaded file for a tenant.
func (s *Service) CreateFile(ctx context.Context, tenantID, filename, purpose string, content []byte) (File, error) {
	sum := sha256.Sum256(content)
	f := File{ID: newID("file-"), TenantID: tenantID, Filename: filename, Purpose: purpose,
		Bytes: int64(len(content)), SHA256: hex.EncodeToString(sum[:]), CreatedAt: time.Now().UTC()}
	return f, s.repo.PutFile(ctx, f, content)
}

// File returns a tenant's file.
func (s *Service) File(ctx context.Context, tenantID, id string) (File, error) {
	return s.repo.File(ctx, tenantID, id)
}

// FileContent returns a tenant's file's content.
func (s *Service) FileContent(ctx context.Context, tenantID, id string) ([]byte, error) {
	return s.repo.FileContent(ctx, tenantID, id)
}

// Files lists a tenant's files.
func (s *Service) Files(ctx context.Context, tenantID, purpose string, p Page) ([]File, bool, error) {
	return s.repo.Files(ctx, tenantID, purpose, p)
}

// DeleteFile deletes a tenant's file, and its chunks and vectors from every
// store.
func (s *Service) DeleteFile(ctx context.Context, tenantID, id string) error {
	removed, err := s.repo.DeleteFile(ctx, tenantID, id)
	if err != nil {
		return err
	}
	s.cancelRunning("", id) // after: a failed delete leaves its ingestion running
	ctx = context.WithoutCancel(ctx)
	for store, keys := range removed {
		s.mu.Lock()
		idx := s.indexes[store]
		s.mu.Unlock()
		if idx != nil {
			if err := idx.remove(ctx, keys); err != nil {
				return err
			}
		}
	}
	return nil
}

// CreateStore creates a vector store and attaches files to it.
func (s *Service) CreateStore(ctx context.Context, tenantID, name string, metadata map[string]string, fileIDs []string, c chunk.Strategy) (Store, error) {
	if err := checkChunking(c); err != nil {
		return Store{}, err
	}
	st := Store{ID: newID("vs_"), TenantID: tenantID, Name: name, Metadata: metadata, EmbedModel: s.opt.EmbedModel, CreatedAt: time.Now().UTC()}
	if err := s.repo.PutStore(ctx, st); err != nil {
		return Store{}, err
	}
	if len(fileIDs) > 0 {
		if _, err := s.CreateBatch(ctx, tenantID, st.ID, fileIDs, c, nil); err != nil {
			_ = s.repo.DeleteStore(context.WithoutCancel(ctx), tenantID, st.ID)
			return Store{}, err
		}
	}
	return s.repo.Store(ctx, tenantID, st.ID)
}

// Store returns a tenant's vector store.
func (s *Service) Store(ctx context.Context, tenantID, id string) (Store, error) {
	return s.repo.Store(ctx, tenantID, id)
}

// Stores lists a tenant's vector stores.
func (s *Service) Stores(ctx context.Context, tenantID string, p Page) ([]Store, bool, error) {
	return s.repo.Stores(ctx, tenantID, p)
}

// UpdateStore renames a store or replaces its metadata.
func (s *Service) UpdateStore(ctx context.Context, tenantID, id string, name *string, metadata map[string]string) (Store, error) {
	return s.repo.UpdateStore(ctx, tenantID, id, name, metadata)
}

// DeleteStore deletes a vector store with its chunks (the files stay).
func (s *Service) DeleteStore(ctx context.Context, tenantID, id string) error {
	if _, err := s.repo.Store(ctx, tenantID, id); err != nil {
		return err
	}
	s.cancelRunning(id, "")
	if err := s.repo.DeleteStore(ctx, tenantID, id); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.indexes, id)
	s.mu.Unlock()
	if s.opt.IndexDir != "" {
		if err := os.Remove(indexPath(s.opt.IndexDir, id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("remove a deleted store's vector index", "store", id, "error", err.Error())
		}
	}
	return nil
}

// AttachFile attaches a file to a store and queues its ingestion.
func (s *Service) AttachFile(ctx context.Context, tenantID, storeID, fileID string, c chunk.Strategy, attrs map[string]any) (StoreFile, error) {
	if err := checkChunking(c); err != nil {
		return StoreFile{}, err
	}
	if err := ValidateAttributes(attrs); err != nil {
		return StoreFile{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	sf := StoreFile{StoreID: storeID, FileID: fileID, TenantID: tenantID, Status: InProgress, Chunking: resolved(c),
		Attributes: attrs, CreatedAt: time.Now().UTC()}
	if err := s.repo.AttachFile(ctx, sf); err != nil {
		return StoreFile{}, err
	}
	s.enqueue(sf)
	return s.repo.StoreFile(ctx, tenantID, storeID, fileID)
}

// StoreFile returns a file of a store with its ingestion status.
func (s *Service) StoreFile(ctx context.Context, tenantID, storeID, fileID string) (StoreFile, error) {
	return s.repo.StoreFile(ctx, tenantID, storeID, fileID)
}

// UpdateFileAttributes replaces the attributes of a file of a store (nil:
// none); the next search filters by them.
func (s *Service) UpdateFileAttributes(ctx context.Context, tenantID, storeID, fileID string, attrs map[string]any) (StoreFile, error) {
	if err := ValidateAttributes(attrs); err != nil {
		return StoreFile{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	idx, err := s.indexOf(ctx, tenantID, storeID) // the tenant's store, its index built
	if err != nil {
		return StoreFile{}, err
	}
	if idx.remote != nil {
		return s.repo.UpdateAttributes(ctx, tenantID, storeID, fileID, attrs) // its searches read the repo
	}
	// The in-memory index filters by its copy of the attributes. attrMu
	// orders the copies as the repo orders the writes.
	s.attrMu.Lock()
	defer s.attrMu.Unlock()
	sf, err := s.repo.UpdateAttributes(ctx, tenantID, storeID, fileID, attrs)
	if err != nil {
		return StoreFile{}, err
	}
	idx.setFile(fileID, sf.Filename, sf.Attributes)
	s.mu.Lock()
	_, running := s.running[storeID+"/"+fileID]
	s.mu.Unlock()
	if running {
		// Its ingestion copies the attributes it read when it began into
		// the index: copy them again once it ends.
		s.refreshAttributes(idx, sf)
	}
	return sf, nil
}

// refreshAttributes copies a store file's attributes from the repo into
// the index once no ingestion of it runs (checked every 20 ms), unless
// the service closes first.
func (s *Service) refreshAttributes(idx *index, sf StoreFile) {
	if s.ctx.Err() != nil {
		return
	}
	key := sf.StoreID + "/" + sf.FileID
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-t.C:
			}
			s.mu.Lock()
			_, running := s.running[key]
			s.mu.Unlock()
			if running {
				continue
			}
			s.attrMu.Lock()
			cur, err := s.repo.StoreFile(s.ctx, sf.TenantID, sf.StoreID, sf.FileID)
			if err == nil {
				idx.setFile(cur.FileID, cur.Filename, cur.Attributes)
			}
			s.attrMu.Unlock()
			if err != nil && !errors.Is(err, ErrNotFound) && s.ctx.Err() == nil {
				s.log.Warn("refresh a file's attributes in the vector index", "store", sf.StoreID, "file", sf.FileID, "error", err.Error())
			}
			return
		}
	}()
}

// StoreFileChunks returns the stored chunks of a file of a store, in
// order: its parsed content as the store holds it (a file still in
// progress: what is stored so far).
func (s *Service) StoreFileChunks(ctx context.Context, tenantID, storeID, fileID string) ([]Chunk, error) {
	if _, err := s.repo.StoreFile(ctx, tenantID, storeID, fileID); err != nil {
		return nil, err
	}
	return s.repo.FileChunks(ctx, storeID, fileID)
}

// StoreFiles lists a store's files (of a batch, with a status, when given).
func (s *Service) StoreFiles(ctx context.Context, tenantID, storeID, batchID string, status Status, p Page) ([]StoreFile, bool, error) {
	return s.repo.StoreFiles(ctx, tenantID, storeID, batchID, status, p)
}

// DetachFile removes a file from a store, with its chunks and vectors.
func (s *Service) DetachFile(ctx context.Context, tenantID, storeID, fileID string) error {
	keys, err := s.repo.DetachFile(ctx, tenantID, storeID, fileID)
	if err != nil {
		return err
	}
	s.cancelRunning(storeID, fileID) // after: a failed detach leaves its ingestion running
	ctx = context.WithoutCancel(ctx)
	s.mu.Lock()
	idx := s.indexes[storeID]
	s.mu.Unlock()
	if idx != nil {
		return idx.remove(ctx, keys)
	}
	return nil
}

// MaxBatchFiles is the most files a batch attaches, as OpenAI bounds it.
const MaxBatchFiles = 2000

// BatchFile is a file of a batch with its own chunking strategy and
// attributes (nil: none).
type BatchFile struct {
	FileID     string
	Chunking   chunk.Strategy
	Attributes map[string]any
}

// CreateBatch attaches files to a store together and queues them, each
// with the same strategy and attributes (nil: none).
func (s *Service) CreateBatch(ctx context.Context, tenantID, storeID string, fileIDs []string, c chunk.Strategy, attrs map[string]any) (Batch, error) {
	if err := checkChunking(c); err != nil {
		return Batch{}, err
	}
	if err := ValidateAttributes(attrs); err != nil {
		return Batch{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(fileIDs) == 0 || len(fileIDs) > MaxBatchFiles {
		return Batch{}, fmt.Errorf("%w: file_ids: 1 to %d files, got %d", ErrInvalid, MaxBatchFiles, len(fileIDs))
	}
	files := make([]BatchFile, len(fileIDs))
	for i, id := range fileIDs {
		if id == "" {
			return Batch{}, fmt.Errorf("%w: file_ids[%d]: empty", ErrInvalid, i)
		}
		files[i] = BatchFile{FileID: id, Chunking: c, Attributes: attrs}
	}
	if err := distinct(files, "file_ids[%d]"); err != nil {
		return Batch{}, err
	}
	return s.createBatch(ctx, tenantID, storeID, files)
}

// CreateBatchOf attaches files to a store together and queues them, each
// with its own strategy and attributes (the files array of OpenAI's
// file_batches).
func (s *Service) CreateBatchOf(ctx context.Context, tenantID, storeID string, files []BatchFile) (Batch, error) {
	if len(files) == 0 || len(files) > MaxBatchFiles {
		return Batch{}, fmt.Errorf("%w: files: 1 to %d files, got %d", ErrInvalid, MaxBatchFiles, len(files))
	}
	for i, f := range files {
		if f.FileID == "" {
			return Batch{}, fmt.Errorf("%w: files[%d].file_id: required", ErrInvalid, i)
		}
		if err := f.Chunking.Validate(); err != nil {
			return Batch{}, fmt.Errorf("%w: files[%d].%w", ErrInvalid, i, err)
		}
		if err := ValidateAttributes(f.Attributes); err != nil {
			return Batch{}, fmt.Errorf("%w: files[%d].%w", ErrInvalid, i, err)
		}
	}
	if err := distinct(files, "files[%d].file_id"); err != nil {
		return Batch{}, err
	}
	return s.createBatch(ctx, tenantID, storeID, files)
}

// distinct refuses a batch that names a file twice; path formats the
// index of the second.
func distinct(files []BatchFile, path string) error {
	seen := make(map[string]bool, len(files))
	for i, f := range files {
		if seen[f.FileID] {
			return fmt.Errorf("%w: "+path+": %s is in the batch twice", ErrInvalid, i, f.FileID)
		}
		seen[f.FileID] = true
	}
	return nil
}

// createBatch stores a batch of valid files in one transaction and queues
// them.
func (s *Service) createBatch(ctx context.Context, tenantID, storeID string, files []BatchFile) (Batch, error) {
	now := time.Now().UTC()
	b := Batch{ID: newID("vsfb_"), StoreID: storeID, TenantID: tenantID, CreatedAt: now}
	sfs := make([]StoreFile, len(files))
	for i, f := range files {
		sfs[i] = StoreFile{StoreID: storeID, FileID: f.FileID, TenantID: tenantID, BatchID: b.ID, Status: InProgress,
			Chunking: resolved(f.Chunking), Attributes: f.Attributes, CreatedAt: now}
	}
	if err := s.repo.PutBatch(ctx, b, sfs); err != nil {
		return Batch{}, err
	}
	for _, sf := range sfs {
		s.enqueue(sf)
	}
	return s.repo.Batch(ctx, tenantID, storeID, b.ID)
}

// Batch returns a file batch with its counts.
func (s *Service) Batch(ctx context.Context, tenantID, storeID, id string) (Batch, error) {
	return s.repo.Batch(ctx, tenantID, storeID, id)
}

// CancelBatch cancels the files of a batch still in progress; what they
// stored so far stays searchable until the files are detached.
func (s *Service) CancelBatch(ctx context.Context, tenantID, storeID, id string) (Batch, error) {
	b, err := s.repo.CancelBatch(ctx, tenantID, storeID, id)
	if err != nil {
		return b, err
	}
	// Stop the ingestions of the cancelled files, every page of them (a
	// batch holds up to MaxBatchFiles).
	p := Page{Limit: 1000}
	for {
		files, more, err := s.repo.StoreFiles(ctx, tenantID, storeID, id, Cancelled, p)
		if err != nil {
			break
		}
		for _, f := range files {
			s.cancelRunning(storeID, f.FileID)
		}
		if !more || len(files) == 0 {
			break
		}
		p.After = files[len(files)-1].FileID
	}
	return b, nil
}

// cancelRunning stops the ingestion of a file in a store; an empty store
// or file matches any.
func (s *Service) cancelRunning(storeID, fileID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, cancel := range s.running {
		st, f, _ := strings.Cut(key, "/")
		if (storeID == "" || st == storeID) && (fileID == "" || f == fileID) {
			cancel()
		}
	}
}
