package rag

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/bulwark-ai/bulwark/vector"
)

// index is a store's vectors in memory, with what a filter needs: the file
// of each key and the attributes of each file. The repo holds the truth;
// an index is built from it on first use after a start.
type index struct {
	newIndex func(dim int) vector.Store

	mu    sync.RWMutex
	vec   vector.Store // nil until the first vector tells the dimension
	dim   int
	file  map[uint64]string         // key → file id
	attrs map[string]map[string]any // file id → attributes
	names map[string]string         // file id → filename
	// store is the store's row as it was when the index was built: its
	// tenant and embedding model do not change.
	store Store
	// remote, when set, holds and searches the store's vectors: the
	// index then keeps nothing in memory but store.
	remote VectorRepo
	// ready is closed when the index is built; err is why it could not
	// be (read only after ready).
	ready chan struct{}
	err   error
}

// index returns st's index, building it from the repo the first time.
// The build runs once, on the service's context (a caller that stops
// waiting does not cancel it, so a large store's build finishes however
// short its searches' deadlines); callers wait for it with their own.
func (s *Service) index(ctx context.Context, st Store) (*index, error) {
	s.mu.Lock()
	idx, ok := s.indexes[st.ID]
	if !ok {
		idx = &index{newIndex: s.opt.NewIndex, file: map[uint64]string{}, attrs: map[string]map[string]any{}, names: map[string]string{},
			store: st, ready: make(chan struct{})}
		idx.remote, _ = s.repo.(VectorRepo)
		s.indexes[st.ID] = idx
		if idx.remote != nil {
			close(idx.ready)
		} else {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer close(idx.ready)
				if idx.err = idx.load(s.ctx, s.repo, st, s.opt.IndexDir, s.log); idx.err != nil {
					s.mu.Lock()
					if s.indexes[st.ID] == idx {
						delete(s.indexes, st.ID)
					}
					s.mu.Unlock()
				}
			}()
		}
	}
	s.mu.Unlock()
	select {
	case <-idx.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if idx.err != nil {
		return nil, idx.err
	}
	return idx, nil
}

// load fills the index from the repo: every chunk vector and the
// attributes of every file of the store. With a saved index (dir), only
// what changed since it was saved is read: keys are never reused for
// another vector, so the chunks added since are those above its
// watermark and the ones deleted are the keys the repo no longer holds.
func (x *index) load(ctx context.Context, repo Repo, st Store, dir string, log *slog.Logger) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	var page Page
	page.Limit = 1000
	for {
		files, more, err := repo.StoreFiles(ctx, st.TenantID, st.ID, "", "", page)
		if err != nil {
			return err
		}
		for _, f := range files {
			x.attrs[f.FileID] = f.Attributes
			x.names[f.FileID] = f.Filename
		}
		if !more {
			break
		}
		page.After = files[len(files)-1].FileID
	}
	var after uint64
	if saved, err := loadSaved(dir, st.ID); err != nil {
		log.Warn("rebuilding a vector index from the store", "store", st.ID, "error", err.Error())
	} else if saved != nil {
		live := map[uint64]bool{}
		if err := repo.ChunkFiles(ctx, st.ID, func(key uint64, fileID string) error {
			x.file[key] = fileID
			live[key] = true
			return nil
		}); err != nil {
			return err
		}
		var gone []uint64
		held := map[uint64]bool{}
		for _, k := range saved.Keys() {
			held[k] = true
			if !live[k] {
				gone = append(gone, k)
			}
		}
		// A live key at or below the watermark that the file lacks (a
		// chunk stored, then the process stopped before indexing it)
		// would never be read again: rebuild instead.
		complete := true
		for k := range live {
			if k <= saved.Watermark() && !held[k] {
				complete = false
				break
			}
		}
		switch {
		case !complete:
			log.Warn("rebuilding a vector index from the store: the saved one lacks stored chunks", "store", st.ID)
		default:
			if err := saved.Delete(ctx, gone); err != nil {
				return err
			}
			x.vec, x.dim, after = saved, saved.Dim(), saved.Watermark()
		}
	}
	var batch []vector.Item
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := x.vec.Upsert(ctx, batch)
		batch = batch[:0]
		return err
	}
	err := repo.Vectors(ctx, st.ID, after, func(key uint64, fileID string, v []float32) error {
		x.file[key] = fileID
		if x.vec == nil {
			x.dim = len(v)
			x.vec = x.newIndex(x.dim)
		}
		batch = append(batch, vector.Item{Key: key, Vector: v})
		if len(batch) == 1024 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// savedIndex is a vector index that can be saved and brought up to date
// after loading (vector.Index).
type savedIndex interface {
	vector.Store
	Save(path string) error
	Keys() []uint64
	Watermark() uint64
	Dim() int
}

// indexPath is where a store's index is saved in dir.
func indexPath(dir, storeID string) string { return filepath.Join(dir, storeID+".idx") }

// loadSaved reads a store's saved index; nil when there is none (or no
// dir). A damaged file is an error: the caller rebuilds.
func loadSaved(dir, storeID string) (savedIndex, error) {
	if dir == "" {
		return nil, nil
	}
	ix, err := vector.Load(indexPath(dir, storeID), vector.Options{})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ix, nil
}

// save writes the index to dir, to be loaded at the next start.
func (x *index) save(dir string) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	si, ok := x.vec.(savedIndex)
	if dir == "" || !ok {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return si.Save(indexPath(dir, x.store.ID))
}

func (x *index) setFile(fileID, name string, attrs map[string]any) {
	if x.remote != nil {
		return
	}
	x.mu.Lock()
	x.attrs[fileID] = attrs
	x.names[fileID] = name
	x.mu.Unlock()
}

// add indexes stored chunks.
func (x *index) add(ctx context.Context, chunks []Chunk) error {
	if len(chunks) == 0 || x.remote != nil {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.vec == nil {
		x.dim = len(chunks[0].Vector)
		x.vec = x.newIndex(x.dim)
	}
	items := make([]vector.Item, len(chunks))
	for i, c := range chunks {
		items[i] = vector.Item{Key: c.Key, Vector: c.Vector}
		x.file[c.Key] = c.FileID
	}
	return x.vec.Upsert(ctx, items)
}

// update indexes stored chunks and drops the keys they replaced (a key
// is never reused, so none of them is one of the chunks').
func (x *index) update(ctx context.Context, chunks []Chunk, replaced []uint64) error {
	if err := x.add(ctx, chunks); err != nil {
		return err
	}
	return x.remove(ctx, replaced)
}

// dimension is the dimension of the store's vectors, 0 before the first
// (or when the repo holds the index).
func (x *index) dimension() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.dim
}

// remove drops keys from the index.
func (x *index) remove(ctx context.Context, keys []uint64) error {
	if len(keys) == 0 || x.remote != nil {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, k := range keys {
		delete(x.file, k)
	}
	if x.vec == nil {
		return nil
	}
	return x.vec.Delete(ctx, keys)
}
