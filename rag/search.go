package rag

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bulwark-ai/bulwark/vector"
)

// Query is a search of a store.
type Query struct {
	Text   string
	Max    int     // results wanted, 1..50 (default 10)
	Filter *Filter // on the files' attributes; nil: none
	// ScoreThreshold drops results scoring below it (0..1).
	ScoreThreshold float64
	// Rerank reranks the fused results through the service's rerank
	// model, when it has one.
	Rerank bool
	// AllowDegraded lets a search whose query cannot be embedded in time
	// (the embedding model down, slow or shedding) answer from the
	// keyword index alone, flagged Degraded, instead of failing.
	AllowDegraded bool
}

// Result is one hit of a search.
type Result struct {
	FileID     string
	Filename   string
	Score      float64
	Attributes map[string]any
	Text       string
	Page       int
	Section    string
	Index      int
}

// Results are a search's hits, best first.
type Results struct {
	Results []Result
	// Degraded is true when the vector half was skipped (AllowDegraded).
	Degraded bool
	// Query is the query's embedding, nil when Degraded: what drift
	// detection compares with the queries of a baseline window.
	Query []float32
	// Reason says why it was.
	Reason string
}

// rrfK is reciprocal rank fusion's constant (Cormack et al. 2009): a
// result's score is the sum over the rankings it is in of 1/(rrfK+rank).
const rrfK = 60

// candidates is how many hits each ranking contributes to the fusion.
func candidates(want int) int { return max(4*want, 40) }

// Search runs a hybrid search of a tenant's store: the query's vector
// against the chunk vectors and its words against the keyword index
// (BM25), each restricted by the filter while it searches, fused by
// reciprocal rank. Scores are scaled to 0..1, 1 being first in both
// rankings.
func (s *Service) Search(ctx context.Context, tenantID, storeID string, q Query) (Results, error) {
	if q.Max <= 0 {
		q.Max = 10
	}
	if q.Max > 50 {
		return Results{}, fmt.Errorf("%w: max_num_results: at most 50, got %d", ErrInvalid, q.Max)
	}
	idx, err := s.indexOf(ctx, tenantID, storeID)
	if err != nil {
		return Results{}, err
	}
	st := idx.store
	n := candidates(q.Max)
	var out Results
	var vhits []vector.Hit
	ectx, cancel := ctx, context.CancelFunc(func() {})
	if dl, ok := ctx.Deadline(); ok && q.AllowDegraded {
		// Leave the keyword half a quarter of the time.
		ectx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Until(dl)*3/4))
	}
	vecs, err := s.embed.Embed(ectx, tenantID, st.EmbedModel, "interactive", []string{q.Text})
	cancel()
	switch {
	case err == nil && len(vecs) == 1:
		out.Query = vecs[0]
		vhits, err = idx.search(ctx, vecs[0], n, q.Filter)
		if err != nil && !errors.Is(err, vector.ErrDimension) {
			return Results{}, err
		}
		if err != nil {
			return Results{}, fmt.Errorf("the store's vectors and its model %s's differ in dimension: %w", st.EmbedModel, err)
		}
	case q.AllowDegraded && (ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded)):
		out.Degraded = true
		out.Reason = "the query could not be embedded; results are from the keyword index alone"
		if err != nil {
			out.Reason += ": " + err.Error()
		}
	default:
		if err == nil {
			err = fmt.Errorf("embedding model %s returned %d vectors for one query", st.EmbedModel, len(vecs))
		}
		return Results{}, err
	}
	kctx := ctx
	if out.Degraded {
		kctx = context.WithoutCancel(ctx) // the keyword half answers even past the deadline
	}
	var khits []uint64
	if idx.remote != nil {
		khits, err = idx.remote.SearchKeyword(kctx, storeID, q.Text, n, q.Filter)
	} else {
		err = s.repo.Keyword(kctx, storeID, q.Text, func(key uint64, _ float64) bool {
			if idx.admits(key, q.Filter) {
				khits = append(khits, key)
			}
			return len(khits) < n
		})
	}
	if err != nil {
		return Results{}, err
	}
	fused := map[uint64]float64{}
	for r, h := range vhits {
		fused[h.Key] += 1 / float64(rrfK+r+1)
	}
	for r, k := range khits {
		fused[k] += 1 / float64(rrfK+r+1)
	}
	keys := make([]uint64, 0, len(fused))
	for k := range fused {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b uint64) int {
		switch {
		case fused[a] > fused[b]:
			return -1
		case fused[a] < fused[b]:
			return 1
		}
		return 0
	})
	best := 2.0 / (rrfK + 1)
	if out.Degraded {
		best = 1.0 / (rrfK + 1)
	}
	score := func(k uint64) float64 { return fused[k] / best }
	var chunks map[uint64]Chunk
	if q.Rerank && s.opt.RerankModel != "" && s.rerank != nil && len(keys) > 0 {
		// Rerank the fused candidates; their order stands if the rerank
		// model cannot answer and the request allows a degraded answer.
		keys = keys[:min(len(keys), n)]
		if chunks, err = s.repo.Chunks(kctx, keys); err != nil {
			return Results{}, err
		}
		keys = slices.DeleteFunc(keys, func(k uint64) bool { c, ok := chunks[k]; return !ok || c.StoreID != storeID })
		texts := make([]string, len(keys))
		for i, k := range keys {
			texts[i] = chunks[k].Text
		}
		scores, err := s.rerank.Rerank(ctx, tenantID, s.opt.RerankModel, q.Text, texts)
		switch {
		case err == nil && len(scores) == len(keys):
			by := make(map[uint64]float64, len(keys))
			for i, k := range keys {
				by[k] = scores[i]
			}
			slices.SortStableFunc(keys, func(a, b uint64) int { return cmp.Compare(by[b], by[a]) })
			score = func(k uint64) float64 { return by[k] }
		case q.AllowDegraded:
			out.Degraded = true
			out.Reason = "the rerank model could not answer; results are in their fused order"
			if err != nil {
				out.Reason += ": " + err.Error()
			}
		default:
			if err == nil {
				err = fmt.Errorf("rerank model %s scored %d of %d results", s.opt.RerankModel, len(scores), len(keys))
			}
			return Results{}, err
		}
	}
	var picked []uint64
	for _, k := range keys {
		if len(picked) == q.Max {
			break
		}
		if score(k) >= q.ScoreThreshold {
			picked = append(picked, k)
		}
	}
	if chunks == nil {
		if chunks, err = s.repo.Chunks(kctx, picked); err != nil {
			return Results{}, err
		}
	}
	fileOf := idx.fileOf
	if idx.remote != nil {
		if fileOf, err = s.remoteFiles(kctx, idx.store, chunks); err != nil {
			return Results{}, err
		}
	}
	for _, k := range picked {
		c, ok := chunks[k]
		if !ok || c.StoreID != storeID {
			continue // deleted meanwhile (a key is never another store's)
		}
		name, attrs := fileOf(c.FileID)
		out.Results = append(out.Results, Result{FileID: c.FileID, Filename: name, Score: score(k),
			Attributes: attrs, Text: c.Text, Page: c.Page, Section: c.Section, Index: c.Index})
	}
	return out, nil
}

// remoteFiles reads the names and attributes of the chunks' files from
// the repo, for a store whose index is remote.
func (s *Service) remoteFiles(ctx context.Context, st Store, chunks map[uint64]Chunk) (func(string) (string, map[string]any), error) {
	type file struct {
		name  string
		attrs map[string]any
	}
	files := map[string]file{}
	for _, c := range chunks {
		if _, ok := files[c.FileID]; ok {
			continue
		}
		sf, err := s.repo.StoreFile(ctx, st.TenantID, st.ID, c.FileID)
		if errors.Is(err, ErrNotFound) {
			continue // detached meanwhile
		}
		if err != nil {
			return nil, err
		}
		files[c.FileID] = file{sf.Filename, sf.Attributes}
	}
	return func(id string) (string, map[string]any) { return files[id].name, files[id].attrs }, nil
}

// search is a vector search restricted by f inside the index.
func (x *index) search(ctx context.Context, q []float32, k int, f *Filter) ([]vector.Hit, error) {
	if x.remote != nil {
		return x.remote.SearchVectors(ctx, x.store.ID, q, k, f)
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.vec == nil {
		return nil, nil
	}
	var vf vector.Filter
	if f != nil {
		vf.Match = func(key uint64) bool { return f.Match(x.attrs[x.file[key]]) }
	}
	return x.vec.Search(ctx, q, k, vf)
}

// admits reports whether a key's file passes f.
func (x *index) admits(key uint64, f *Filter) bool {
	if f == nil {
		return true
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	file, ok := x.file[key]
	return ok && f.Match(x.attrs[file])
}

// fileOf returns a file's name and attributes.
func (x *index) fileOf(fileID string) (string, map[string]any) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.names[fileID], x.attrs[fileID]
}

// indexOf returns a tenant's store's index: from memory when it is built
// (a store's tenant never changes), else from the repo. With a
// VectorRepo the store is read every time: another replica may have
// deleted it.
func (s *Service) indexOf(ctx context.Context, tenantID, storeID string) (*index, error) {
	s.mu.Lock()
	idx := s.indexes[storeID]
	s.mu.Unlock()
	if _, remote := s.repo.(VectorRepo); idx != nil && !remote {
		if idx.store.TenantID != tenantID {
			return nil, fmt.Errorf("vector store %s: %w", storeID, ErrNotFound)
		}
		return s.index(ctx, idx.store) // waits for its build
	}
	st, err := s.repo.Store(ctx, tenantID, storeID)
	if err != nil {
		return nil, err
	}
	return s.index(ctx, st)
}
