package rag

import (
	"context"
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
}

// index returns st's index, building it from the repo the first time.
func (s *Service) index(ctx context.Context, st Store) (*index, error) {
	s.mu.Lock()
	idx, ok := s.indexes[st.ID]
	if !ok {
		idx = &index{newIndex: s.opt.NewIndex, file: map[uint64]string{}, attrs: map[string]map[string]any{}}
		s.indexes[st.ID] = idx
	}
	s.mu.Unlock()
	if ok {
		return idx, nil
	}
	if err := idx.load(ctx, s.repo, st); err != nil {
		s.mu.Lock()
		delete(s.indexes, st.ID)
		s.mu.Unlock()
		return nil, err
	}
	return idx, nil
}

// load fills the index from the repo: every chunk vector and the
// attributes of every file of the store.
func (x *index) load(ctx context.Context, repo Repo, st Store) error {
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
		}
		if !more {
			break
		}
		page.After = files[len(files)-1].FileID
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
	err := repo.Vectors(ctx, st.ID, 0, func(key uint64, fileID string, v []float32) error {
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

func (x *index) setAttributes(fileID string, attrs map[string]any) {
	x.mu.Lock()
	x.attrs[fileID] = attrs
	x.mu.Unlock()
}

// add indexes stored chunks.
func (x *index) add(ctx context.Context, chunks []Chunk) error {
	if len(chunks) == 0 {
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

// remove drops keys from the index.
func (x *index) remove(ctx context.Context, keys []uint64) error {
	if len(keys) == 0 {
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
