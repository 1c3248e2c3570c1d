package rag

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/rag/parse"
	"github.com/bulwark-ai/bulwark/tenant"
)

// ingestOne ingests a file into a store: parse, chunk, embed what is not
// stored yet, store, index, and mark the file completed — or failed with
// the reason, which fails that file alone. A file cancelled or detached
// meanwhile stops at its next batch. The service closing leaves it in
// progress, to resume.
func (s *Service) ingestOne(sf StoreFile) {
	ctx, cancel := context.WithCancel(s.ctx)
	key := sf.StoreID + "/" + sf.FileID
	s.mu.Lock()
	if _, ok := s.running[key]; ok {
		// Queued twice (cancelled and attached again): one at a time, so
		// a chunk is embedded once; this one goes after the other.
		s.mu.Unlock()
		cancel()
		s.requeue(sf, time.Second)
		return
	}
	s.running[key] = cancel
	s.mu.Unlock()
	defer func() {
		cancel()
		s.mu.Lock()
		delete(s.running, key)
		s.mu.Unlock()
	}()
	if s.opt.Lease > 0 {
		held, err := s.repo.Claim(ctx, sf.StoreID, sf.FileID, s.owner, s.opt.Lease)
		switch {
		case err != nil:
			if s.ctx.Err() == nil {
				s.log.Warn("ingestion waits for the store", "store", sf.StoreID, "file", sf.FileID, "error", err.Error())
				s.requeue(sf, 5*time.Second)
			}
			return
		case !held:
			return // another replica's, or no longer in progress
		}
		stop := s.holdLease(ctx, cancel, sf)
		defer stop()
	}
	err := s.ingest(ctx, sf)
	if s.ctx.Err() != nil {
		return // closing: the file stays in progress and resumes
	}
	status, why := Completed, (*FileError)(nil)
	switch {
	case err == nil:
	case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound), errors.Is(err, context.Canceled):
		return // cancelled or detached meanwhile
	case errors.Is(err, tenant.ErrUnavailable):
		// The store is busy or unreachable: the file stays in progress
		// and is tried again.
		s.log.Warn("ingestion waits for the store", "store", sf.StoreID, "file", sf.FileID, "error", err.Error())
		s.requeue(sf, 5*time.Second)
		return
	default:
		status, why = Failed, fileError(err)
		s.log.Warn("file failed to ingest", "store", sf.StoreID, "file", sf.FileID, "error", err.Error())
	}
	if _, err := s.repo.SetStatus(context.WithoutCancel(ctx), sf.StoreID, sf.FileID, status, why); err != nil {
		s.log.Error("record ingestion outcome", "store", sf.StoreID, "file", sf.FileID, "error", err.Error())
	}
}

// holdLease renews this service's lease on sf every third of Lease until
// the returned stop is called, which releases it. A lease lost to another
// replica (this one stalled past it) cancels the ingestion: the other
// replica has the file now, and the (store, file, index) key keeps the
// chunks both stored once.
func (s *Service) holdLease(ctx context.Context, cancel context.CancelFunc, sf StoreFile) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(s.opt.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			held, err := s.repo.Claim(ctx, sf.StoreID, sf.FileID, s.owner, s.opt.Lease)
			switch {
			case err != nil:
				// Unreachable for now: the next renewal tries again, and
				// the lease outlives two missed ones.
				if ctx.Err() == nil {
					s.log.Warn("renew ingestion lease", "store", sf.StoreID, "file", sf.FileID, "error", err.Error())
				}
			case !held:
				s.log.Warn("ingestion lease lost; another replica has the file", "store", sf.StoreID, "file", sf.FileID)
				cancel()
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		// Released after the outcome is recorded (the deferred order), so
		// that no replica takes a file this one has just finished; on
		// close, so that another takes it at once.
		if err := s.repo.Release(context.WithoutCancel(ctx), sf.StoreID, sf.FileID, s.owner); err != nil {
			s.log.Warn("release ingestion lease", "store", sf.StoreID, "file", sf.FileID, "error", err.Error())
		}
	}
}

// fileError is what a file's last_error says about err.
func fileError(err error) *FileError {
	var pe *parse.Error
	if errors.As(err, &pe) {
		code := "invalid_file"
		if errors.Is(err, parse.ErrUnsupported) {
			code = "unsupported_file"
		}
		return &FileError{Code: code, Message: pe.Error()}
	}
	var le *llm.Error
	if errors.As(err, &le) {
		return &FileError{Code: "server_error", Message: "embedding failed: " + le.Message}
	}
	var r *Refusal
	if errors.As(err, &r) {
		return &FileError{Code: "server_error", Message: r.Reason}
	}
	// The cause (a database's message) is for the log only.
	return &FileError{Code: "server_error", Message: "the file could not be ingested because of an internal error; the server log has the cause"}
}

// Refusal is a failure of a file that does not pass and whose Reason may
// be shown as the file's last_error (a tenant's spent budget, an
// embedding model the store's alias no longer names): an Embedder returns
// it for what the client should read.
type Refusal struct {
	Reason string
	Err    error
}

func (e *Refusal) Error() string { return e.Reason }

// Unwrap returns the cause.
func (e *Refusal) Unwrap() error { return e.Err }

// requeue queues a file again after d, unless the service closes first.
func (s *Service) requeue(sf StoreFile, d time.Duration) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			s.enqueue(sf)
		case <-s.ctx.Done():
		}
	}()
}

func (s *Service) ingest(ctx context.Context, sf StoreFile) error {
	// The store's row from its index: reading it from the repo counts
	// its files, a cost in proportion to the store for every file.
	// The row as it is now: a file cancelled, detached or attached again
	// since it was queued is not this job's any more.
	cur, err := s.repo.StoreFile(ctx, sf.TenantID, sf.StoreID, sf.FileID)
	if err != nil {
		return err
	}
	if cur.Status != InProgress || cur.BatchID != sf.BatchID {
		return ErrConflict
	}
	sf = cur
	idx, err := s.indexOf(ctx, sf.TenantID, sf.StoreID)
	if err != nil {
		return err
	}
	st := idx.store
	f, err := s.repo.File(ctx, sf.TenantID, sf.FileID)
	if err != nil {
		return err
	}
	content, err := s.repo.FileContent(ctx, sf.TenantID, sf.FileID)
	if err != nil {
		return err
	}
	pieces, err := s.opt.Split(ctx, f.Filename, content, sf.Chunking)
	if err != nil {
		return err
	}
	stored, err := s.repo.ChunkHashes(ctx, sf.StoreID, sf.FileID)
	if err != nil {
		return err
	}
	idx.setFile(sf.FileID, f.Filename, sf.Attributes)
	var todo []int
	for i, p := range pieces {
		if stored[i] != p.Hash {
			todo = append(todo, i)
		}
	}
	hashes := make([]string, len(todo))
	for j, i := range todo {
		hashes[j] = pieces[i].Hash
	}
	known, err := s.repo.VectorsByHash(ctx, sf.StoreID, hashes)
	if err != nil {
		return err
	}
	for start := 0; start < len(todo); start += s.opt.BatchInputs {
		batch := todo[start:min(start+s.opt.BatchInputs, len(todo))]
		var inputs []string
		for _, i := range batch {
			if known[pieces[i].Hash] == nil {
				inputs = append(inputs, pieces[i].Text)
			}
		}
		var vecs [][]float32
		if len(inputs) > 0 {
			if vecs, err = s.embedRetrying(ctx, st, inputs); err != nil {
				return err
			}
		}
		chunks := make([]Chunk, len(batch))
		for j, i := range batch {
			p := pieces[i]
			v := known[p.Hash]
			if v == nil {
				v, vecs = vecs[0], vecs[1:]
			}
			chunks[j] = Chunk{StoreID: sf.StoreID, FileID: sf.FileID, Index: i, Text: p.Text, Page: p.Page,
				Section: p.Section, Hash: p.Hash, Tokens: p.Tokens, Vector: v}
		}
		if d := idx.dimension(); d != 0 && len(chunks[0].Vector) != d {
			return &Refusal{Reason: fmt.Sprintf("embedding model %s returned vectors of %d dimensions; the store's are of %d (was the alias pointed at another model?)",
				st.EmbedModel, len(chunks[0].Vector), d)}
		}
		replaced, err := s.repo.PutChunks(ctx, chunks)
		if err != nil {
			return err
		}
		// Committed: the index follows whatever happens to ctx now.
		if err := idx.update(context.WithoutCancel(ctx), chunks, replaced); err != nil {
			return err
		}
	}
	gone, err := s.repo.TrimChunks(ctx, sf.StoreID, sf.FileID, len(pieces))
	if err != nil {
		return err
	}
	return idx.remove(context.WithoutCancel(ctx), gone)
}

// embedRetrying embeds inputs at batch priority, waiting and trying again
// while the failure is one that passes (overload, rate limits, an upstream
// down): ingestion yields to interactive traffic rather than failing. A
// client's mistake (the input too long for the model, say) fails the file.
func (s *Service) embedRetrying(ctx context.Context, st Store, inputs []string) ([][]float32, error) {
	wait := s.opt.Retry
	pace := s.pacerFor(st.EmbedModel)
	for {
		if err := pace.acquire(ctx); err != nil {
			return nil, err
		}
		vecs, err := s.embed.Embed(ctx, st.TenantID, st.EmbedModel, "batch", inputs)
		after, busy := passing(err)
		pace.release(busy)
		if err == nil {
			if len(vecs) != len(inputs) {
				return nil, fmt.Errorf("embedding model %s returned %d vectors for %d inputs", st.EmbedModel, len(vecs), len(inputs))
			}
			return vecs, nil
		}
		if !busy {
			return nil, err
		}
		d := max(wait, after)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// Busy is an Embedder's error for a refusal that passes (admission
// control shedding batch work, a rate limit, an upstream overloaded): the
// call may be tried again after RetryAfter.
type Busy struct {
	RetryAfter time.Duration
	Err        error
}

func (e *Busy) Error() string { return "busy: " + e.Err.Error() }

// Unwrap returns the refusal.
func (e *Busy) Unwrap() error { return e.Err }

// passing reports whether err passes if waited out, and how long to wait
// at least.
func passing(err error) (time.Duration, bool) {
	var b *Busy
	if errors.As(err, &b) {
		return b.RetryAfter, true
	}
	var le *llm.Error
	if errors.As(err, &le) && le.Kind.Retryable() {
		return le.RetryAfter, true
	}
	return 0, false
}
