package rag

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bulwark-ai/bulwark/rag/chunk"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/vector"
)

// Embedder embeds texts through Bulwark's own embedding aliases, so that
// retries, breakers, fallbacks and adaptive concurrency apply to
// knowledge-base work as to any client's. priority is the class the calls
// are admitted as: batch for ingestion, interactive for a search's query.
type Embedder interface {
	Embed(ctx context.Context, tenantID, model, priority string, inputs []string) ([][]float32, error)
}

// Reranker scores documents by their relevance to a query through a
// rerank model alias (the gateway's Rerank): one score per document, in
// the documents' order, higher is more relevant.
type Reranker interface {
	Rerank(ctx context.Context, tenantID, model, query string, docs []string) ([]float64, error)
}

// Options configure a Service. Zero values take the defaults.
type Options struct {
	// EmbedModel is the alias new stores embed with.
	EmbedModel string
	// RerankModel is the alias searches rerank with when they ask to
	// ("": searches are not reranked); Rerank is how.
	RerankModel string
	Rerank      Reranker
	// Workers is how many files are ingested at once (default 4).
	Workers int
	// BatchInputs is the most chunks embedded in one call (default 64).
	BatchInputs int
	// NewIndex returns an empty vector index for vectors of dim
	// dimensions (default vector.New with its defaults).
	NewIndex func(dim int) vector.Store
	// Split parses and chunks a file (default Split, this package's).
	Split func(ctx context.Context, name string, content []byte, c chunk.Strategy) ([]Piece, error)
	// IndexDir is where the stores' vector indexes are saved when the
	// service closes, so that the next start loads them and reads only
	// what changed since from the repo ("": rebuilt from the repo).
	IndexDir string
	// Retry is the wait before a file's embedding call that failed is
	// tried again (default 1 s, doubling to 30 s).
	Retry time.Duration
	// Lease, when set, is how long a replica's claim on a file it
	// ingests lasts without renewal (Repo.Claim): set it where replicas
	// share the repo, so that each file is ingested by one at a time and
	// the files of a replica that died are taken over once their leases
	// run out (the service looks for them every Lease). Zero, in the
	// embedded shape, claims nothing: one process owns the repo, and
	// after a crash it resumes its files at once.
	Lease time.Duration
	Log   *slog.Logger
}

// Piece is a chunk of a file before it is embedded.
type Piece struct {
	Text    string
	Page    int
	Section string
	Tokens  int
	Hash    string
}

// Service runs the knowledge bases: their objects, ingestion and search.
// It is safe for concurrent use. Start resumes the ingestion the process
// left unfinished; Close stops the workers and waits for them.
type Service struct {
	repo   Repo
	embed  Embedder
	rerank Reranker
	opt    Options
	log    *slog.Logger

	// attrMu orders the updates of files' attributes and their copies in
	// the in-memory indexes; it is taken before mu, never while holding it.
	attrMu  sync.Mutex
	mu      sync.Mutex
	indexes map[string]*index // by store id; built lazily from the repo
	running map[string]context.CancelFunc
	pacers  map[string]*pacer // by embedding model

	// owner names this service in the leases it holds.
	owner string

	queue  chan StoreFile
	stop   context.CancelFunc
	ctx    context.Context
	wg     sync.WaitGroup
	closed bool
}

// NewService returns a Service over repo that embeds with embed.
func NewService(repo Repo, embed Embedder, o Options) *Service {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.BatchInputs <= 0 {
		o.BatchInputs = 64
	}
	if o.Retry <= 0 {
		o.Retry = time.Second
	}
	if o.Split == nil {
		o.Split = Split
	}
	if o.NewIndex == nil {
		o.NewIndex = func(dim int) vector.Store { return vector.New(dim, vector.Options{}) }
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Service{
		repo: repo, embed: embed, rerank: o.Rerank, opt: o, log: o.Log,
		indexes: map[string]*index{}, running: map[string]context.CancelFunc{}, pacers: map[string]*pacer{},
		queue: make(chan StoreFile, 1024), ctx: ctx, stop: stop, owner: newID("ingest_"),
	}
}

// Start starts the ingestion workers and queues every file left in
// progress by an earlier run: its chunks stored then are kept (by
// content hash) and only the rest is embedded.
func (s *Service) Start(ctx context.Context) error {
	pending, err := s.repo.Pending(ctx)
	switch {
	case err == nil:
	case errors.Is(err, tenant.ErrUnavailable) && s.opt.Lease > 0:
		// A shared repo unreachable at start: the sweep queues the files
		// in progress once it is back.
		s.log.Warn("ingestion resumes once the store is reachable", "error", err.Error())
	default:
		return fmt.Errorf("resume ingestion: %w", err)
	}
	for range s.opt.Workers {
		s.wg.Add(1)
		go s.work()
	}
	for _, sf := range pending {
		s.enqueue(sf)
	}
	// Build the stores' vector indexes now, in the background, so the
	// first search of each does not wait for it.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		stores, err := s.repo.AllStores(s.ctx)
		if err != nil {
			s.log.Warn("load vector indexes", "error", err.Error())
			return
		}
		for _, st := range stores {
			if _, err := s.index(s.ctx, st); err != nil && s.ctx.Err() == nil {
				s.log.Warn("load vector index", "store", st.ID, "error", err.Error())
			}
		}
	}()
	if len(pending) > 0 {
		s.log.Info("resuming ingestion", "files", len(pending))
	}
	if s.opt.Lease > 0 {
		s.wg.Add(1)
		go s.sweep()
	}
	return nil
}

// sweep queues, every Lease, the files in progress that no worker of this
// service holds: those of a replica that died, whose leases ran out, and
// those another replica released. A file another replica holds is queued
// too and left alone when the claim fails.
func (s *Service) sweep() {
	defer s.wg.Done()
	t := time.NewTicker(s.opt.Lease)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		pending, err := s.repo.Pending(s.ctx)
		if err != nil {
			if s.ctx.Err() == nil {
				s.log.Warn("look for files to take over", "error", err.Error())
			}
			continue
		}
		for _, sf := range pending {
			s.mu.Lock()
			_, running := s.running[sf.StoreID+"/"+sf.FileID]
			s.mu.Unlock()
			if !running {
				s.enqueue(sf)
			}
		}
	}
}

// Close stops ingestion and waits for the workers; files in progress stay
// so, and resume at the next Start.
func (s *Service) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	s.mu.Lock()
	indexes := make([]*index, 0, len(s.indexes))
	for _, x := range s.indexes {
		indexes = append(indexes, x)
	}
	s.mu.Unlock()
	for _, x := range indexes {
		if err := x.save(s.opt.IndexDir); err != nil {
			s.log.Warn("save vector index", "store", x.store.ID, "error", err.Error())
		}
	}
}

// enqueue hands a file to the workers without blocking the caller: a
// full queue is drained by a goroutine the service owns.
func (s *Service) enqueue(sf StoreFile) {
	select {
	case s.queue <- sf:
	default:
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			select {
			case s.queue <- sf:
			case <-s.ctx.Done():
			}
		}()
	}
}

func (s *Service) work() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case sf := <-s.queue:
			s.ingestOne(sf)
		}
	}
}

// newID returns an id with OpenAI's prefix for the object kind.
func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// errStopped means the service is closing.
var errStopped = errors.New("knowledge base service stopped")
