package batch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Executor runs one line of a batch as the batch's key, at batch
// priority, through the gateway, and returns the endpoint's response. A
// line that could not be run at all (the key revoked since) has an Error.
// A cancelled ctx may end it with anything: its result is not kept.
type Executor interface {
	Execute(ctx context.Context, b Batch, l Line) Result
}

// Files are the uploaded files batches read their input from and write
// their output to.
type Files interface {
	// File returns a tenant's file's purpose and content, or an error
	// wrapping ErrNotFound.
	File(ctx context.Context, tenantID, id string) (purpose string, content []byte, err error)
	// Put stores a file for a tenant under id, once: a file stored under
	// id already is left as it is.
	Put(ctx context.Context, tenantID, id, filename, purpose string, content []byte) error
}

// Invalid is a request to create a batch that cannot be: the input file
// missing or of another purpose, an endpoint not supported.
type Invalid struct {
	Param   string
	Message string
}

func (e *Invalid) Error() string { return e.Message }

// Options tune a Service; zero values take the defaults.
type Options struct {
	// Workers is how many lines run at once in this process (default 4).
	Workers int
	// Lease is how long a claim on a batch lasts without renewal
	// (default 15s); renewed every third of it.
	Lease time.Duration
	// Poll is how often the store is looked at for batches to run
	// (default: Lease).
	Poll time.Duration
	// Retries is how many times a line that failed in a way that passes
	// is tried again (default 3); Backoff the first wait (default 1s),
	// doubled each time up to 30s.
	Retries int
	Backoff time.Duration
	// Window is how long a batch may run before it expires (default
	// 24h, the only completion_window OpenAI takes).
	Window time.Duration
	// Endpoints are the urls a batch may run (default
	// DefaultEndpoints); the Executor serves them.
	Endpoints []string
	// Owner names this process in leases (default: random).
	Owner string
	Log   *slog.Logger
}

// Service creates, runs and cancels batches. It is safe for concurrent
// use; Start starts its runner, Close stops it and waits for it.
type Service struct {
	store Store
	exec  Executor
	files Files
	opt   Options
	log   *slog.Logger

	sem  chan struct{} // the line slots: Options.Workers
	pace *pacer        // the lines in flight (pace.go)
	wake chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	running map[string]context.CancelFunc // batch id → its run's cancel
}

// New returns a Service over store. Call Start to run batches.
func New(store Store, exec Executor, files Files, o Options) *Service {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Lease <= 0 {
		o.Lease = 15 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = o.Lease
	}
	if o.Retries == 0 {
		o.Retries = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.Window <= 0 {
		o.Window = 24 * time.Hour
	}
	if len(o.Endpoints) == 0 {
		o.Endpoints = DefaultEndpoints
	}
	if o.Owner == "" {
		o.Owner = newID("runner_")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // not started: nothing runs
	return &Service{store: store, exec: exec, files: files, opt: o, log: o.Log,
		sem: make(chan struct{}, o.Workers), pace: newPacer(o.Workers), wake: make(chan struct{}, 1),
		ctx: ctx, cancel: cancel, running: map[string]context.CancelFunc{}}
}

func newID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Start starts the runner: the batches an earlier run left unfinished
// resume, and new ones run as they are created.
func (s *Service) Start(ctx context.Context) error {
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.wg.Go(s.loop)
	return nil
}

// Close stops the runner and waits for it. Batches running stay as they
// are, to resume at the next Start (here or on another replica).
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
}

// Create validates an input file and stores a batch of its requests to
// endpoint for the key's tenant. A file with bad lines makes a batch that
// failed, with the problems listed; a request that cannot make a batch is
// *Invalid.
func (s *Service) Create(ctx context.Context, tenantID, keyID, endpoint, inputFileID, window string, metadata map[string]string) (Batch, error) {
	if !slices.Contains(s.opt.Endpoints, endpoint) {
		return Batch{}, &Invalid{Param: "endpoint", Message: fmt.Sprintf("endpoint must be one of %s, got %q", strings.Join(s.opt.Endpoints, ", "), endpoint)}
	}
	if window != "24h" {
		return Batch{}, &Invalid{Param: "completion_window", Message: fmt.Sprintf("completion_window must be 24h, got %q", window)}
	}
	if inputFileID == "" {
		return Batch{}, &Invalid{Param: "input_file_id", Message: "input_file_id is required"}
	}
	purpose, content, err := s.files.File(ctx, tenantID, inputFileID)
	if errors.Is(err, ErrNotFound) {
		return Batch{}, &Invalid{Param: "input_file_id", Message: fmt.Sprintf("no such file: %s", inputFileID)}
	}
	if err != nil {
		return Batch{}, err
	}
	if purpose != "batch" {
		return Batch{}, &Invalid{Param: "input_file_id", Message: fmt.Sprintf("file %s has purpose %q; a batch's input file must have purpose \"batch\"", inputFileID, purpose)}
	}
	now := time.Now().UTC()
	b := Batch{ID: newID("batch_"), TenantID: tenantID, KeyID: keyID, Endpoint: endpoint, InputFileID: inputFileID,
		CompletionWindow: window, Metadata: metadata, Status: Validating, CreatedAt: now, ExpiresAt: now.Add(s.opt.Window)}
	lines, problems := Parse(content, endpoint)
	if problems != nil {
		b.Status, b.Errors, b.Times.Failed = Failed, problems, &now
	}
	b.Total = len(lines)
	if err := s.store.CreateBatch(ctx, b, lines); err != nil {
		return Batch{}, err
	}
	b.Counts.Total = b.Total
	if b.Status == Validating {
		s.poke()
	}
	return b, nil
}

// Batch returns a tenant's batch.
func (s *Service) Batch(ctx context.Context, tenantID, id string) (Batch, error) {
	return s.store.LoadBatch(ctx, tenantID, id)
}

// Batches lists a tenant's batches, newest first.
func (s *Service) Batches(ctx context.Context, tenantID string, p Page) ([]Batch, bool, error) {
	return s.store.ListBatches(ctx, tenantID, p)
}

// Cancel asks a batch to stop: it is cancelling until the lines running
// end and its files are written, then cancelled. A batch done or
// finalizing is ErrConflict.
func (s *Service) Cancel(ctx context.Context, tenantID, id string) (Batch, error) {
	b, err := s.store.LoadBatch(ctx, tenantID, id)
	if err != nil {
		return Batch{}, err
	}
	if b.Status == Cancelling {
		return b, nil
	}
	now := time.Now().UTC()
	b.Status, b.Times.Cancelling = Cancelling, &now
	ok, err := s.store.UpdateBatch(ctx, b, Validating, InProgress)
	if err != nil {
		return Batch{}, err
	}
	if !ok {
		cur, err := s.store.LoadBatch(ctx, tenantID, id)
		if err != nil {
			return Batch{}, err
		}
		if cur.Status == Cancelling {
			return cur, nil
		}
		return cur, fmt.Errorf("cancel batch %s, which is %s: %w", id, cur.Status, ErrConflict)
	}
	s.mu.Lock()
	if stop, ok := s.running[id]; ok {
		stop()
	}
	s.mu.Unlock()
	s.poke()
	return s.store.LoadBatch(ctx, tenantID, id)
}

func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// loop starts a run of every batch not done and not running here, at
// start, every Poll and when poked.
func (s *Service) loop() {
	t := time.NewTicker(s.opt.Poll)
	defer t.Stop()
	for {
		active, err := s.store.ActiveBatches(s.ctx)
		if err != nil && s.ctx.Err() == nil {
			s.log.Warn("list batches to run", "error", err.Error())
		}
		for _, b := range active {
			s.mu.Lock()
			_, busy := s.running[b.ID]
			if !busy {
				ctx, cancel := context.WithCancel(s.ctx)
				work, stop := context.WithCancel(ctx)
				s.running[b.ID] = stop
				s.wg.Go(func() {
					defer func() {
						cancel()
						s.mu.Lock()
						delete(s.running, b.ID)
						s.mu.Unlock()
					}()
					s.run(ctx, cancel, work, stop, b)
				})
			}
			s.mu.Unlock()
		}
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}
