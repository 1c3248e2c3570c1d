package reqlog

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// WriterOptions configure a Writer. Zero fields take the defaults shown.
type WriterOptions struct {
	// Retention is how long records are kept; 0 keeps them forever.
	Retention time.Duration
	// PruneInterval is how often records older than Retention are removed
	// (10m; at most Retention).
	PruneInterval time.Duration
	// MaxContentBytes bounds the captured prompt and, separately, the
	// captured completion of a record (16384).
	MaxContentBytes int
	// BatchSize records are appended at once (256).
	BatchSize int
	// FlushInterval bounds how long a record waits in a partial batch (1s).
	FlushInterval time.Duration
	// Buffer is how many records Add can queue; beyond it they are
	// dropped (4096).
	Buffer int
	// Timeout bounds one append or prune (10s).
	Timeout time.Duration
	// Logger reports failures of the store (slog.Default()).
	Logger *slog.Logger
	// Now stamps records added without a time and dates pruning
	// (time.Now).
	Now func() time.Time
}

// Defaults of WriterOptions.
const (
	DefaultRetention       = 168 * time.Hour
	DefaultMaxContentBytes = 16 << 10
	defaultPruneInterval   = 10 * time.Minute
)

func (o *WriterOptions) defaults() {
	if o.PruneInterval <= 0 {
		o.PruneInterval = defaultPruneInterval
	}
	if o.Retention > 0 && o.PruneInterval > o.Retention {
		o.PruneInterval = o.Retention
	}
	if o.MaxContentBytes <= 0 {
		o.MaxContentBytes = DefaultMaxContentBytes
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 256
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.Buffer <= 0 {
		o.Buffer = 4096
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Writer moves records from the request path into a Store in batches,
// and prunes the store. Add queues a record and returns at once; one
// goroutine appends full batches at once and partial ones every
// FlushInterval, masking captured content first; another prunes every
// PruneInterval. Both are started by Start and stopped by Close.
//
// A Writer is safe for concurrent use.
type Writer struct {
	store Store
	opts  WriterOptions

	// mu guards closed against Add: Add holds it shared while it queues,
	// Close exclusively while it sets closed, so that nothing is queued
	// after the final drain.
	mu     sync.RWMutex
	closed bool
	queue  chan Record

	startOnce sync.Once
	stop      chan struct{}
	wg        sync.WaitGroup
	ctx       context.Context // canceled when Close gives up waiting
	cancel    context.CancelFunc

	written, dropped, failed, pruned atomic.Uint64
	failing                          atomic.Bool
}

// WriterStats are a Writer's counters since NewWriter.
type WriterStats struct {
	// Written counts records the store took.
	Written uint64
	// Dropped counts records lost because the queue was full or the
	// Writer closed; Failed those lost because the store refused them.
	Dropped, Failed uint64
	// Pruned counts records removed for their age.
	Pruned uint64
	// Failing is set while the store refuses appends.
	Failing bool
}

// NewWriter returns a Writer into s.
func NewWriter(s Store, opts WriterOptions) *Writer {
	opts.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Writer{
		store:  s,
		opts:   opts,
		queue:  make(chan Record, opts.Buffer),
		stop:   make(chan struct{}),
		ctx:    ctx,
		cancel: cancel,
	}
}

// Start starts the Writer's goroutines. Calling it again does nothing.
func (w *Writer) Start() {
	w.startOnce.Do(func() {
		w.wg.Go(w.run)
		if w.opts.Retention > 0 {
			w.wg.Go(w.pruneLoop)
		}
	})
}

// MaxContentBytes is the capture limit of the texts of a record.
func (w *Writer) MaxContentBytes() int { return w.opts.MaxContentBytes }

// Add queues r. It never waits: when the queue is full, r is dropped and
// counted.
func (w *Writer) Add(r Record) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.dropped.Add(1)
		return
	}
	select {
	case w.queue <- r:
	default:
		w.dropped.Add(1)
	}
}

// Close stops the goroutines after appending what is queued. If ctx ends
// first, the append in progress is abandoned.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()

	w.Start() // a Writer never started still flushes its queue
	close(w.stop)
	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		w.cancel()
		<-done
	}
	w.cancel()
	return nil
}

// Stats returns the Writer's counters.
func (w *Writer) Stats() WriterStats {
	return WriterStats{
		Written: w.written.Load(),
		Dropped: w.dropped.Load(),
		Failed:  w.failed.Load(),
		Pruned:  w.pruned.Load(),
		Failing: w.failing.Load(),
	}
}

func (w *Writer) run() {
	tick := time.NewTicker(w.opts.FlushInterval)
	defer tick.Stop()
	batch := make([]Record, 0, w.opts.BatchSize)
	add := func(r Record) {
		batch = append(batch, r)
		if len(batch) >= w.opts.BatchSize {
			batch = w.flush(batch)
		}
	}
	for {
		select {
		case r := <-w.queue:
			add(r)
		case <-tick.C:
			batch = w.flush(batch)
		case <-w.stop:
			for {
				select {
				case r := <-w.queue:
					add(r)
					continue
				default:
				}
				break
			}
			w.flush(batch)
			return
		}
	}
}

// flush prepares and appends batch, and returns it emptied for reuse.
func (w *Writer) flush(batch []Record) []Record {
	if len(batch) == 0 {
		return batch
	}
	now := w.opts.Now
	for i := range batch {
		r := &batch[i]
		r.normalize(now)
		seal(r.Content, w.opts.MaxContentBytes)
	}
	// An invalid record would make the store refuse the whole batch.
	valid := batch[:0]
	for _, r := range batch {
		if err := r.Validate(); err != nil {
			w.failed.Add(1)
			w.opts.Logger.Error("request log record dropped", "err", err)
			continue
		}
		valid = append(valid, r)
	}
	if len(valid) > 0 {
		ctx, cancel := context.WithTimeout(w.ctx, w.opts.Timeout)
		err := w.store.AppendRequests(ctx, valid)
		cancel()
		if err != nil {
			w.failed.Add(uint64(len(valid)))
			if !w.failing.Swap(true) {
				w.opts.Logger.Warn("request log store unavailable; dropping request log records", "err", err.Error())
			}
		} else {
			w.written.Add(uint64(len(valid)))
			if w.failing.Swap(false) {
				w.opts.Logger.Info("request log store available again")
			}
		}
	}
	clear(batch[:cap(batch)]) // let the records' content go
	return batch[:0]
}

func (w *Writer) pruneLoop() {
	tick := time.NewTicker(w.opts.PruneInterval)
	defer tick.Stop()
	w.prune()
	for {
		select {
		case <-tick.C:
			w.prune()
		case <-w.stop:
			return
		}
	}
}

func (w *Writer) prune() {
	ctx, cancel := context.WithTimeout(w.ctx, w.opts.Timeout)
	defer cancel()
	n, err := w.store.PruneRequests(ctx, w.opts.Now().Add(-w.opts.Retention))
	if err != nil {
		if ctx.Err() == nil || w.ctx.Err() == nil {
			w.opts.Logger.Warn("pruning the request log failed", "err", err.Error())
		}
		return
	}
	w.pruned.Add(uint64(n))
}
