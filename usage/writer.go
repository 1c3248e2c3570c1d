package usage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// WriterOptions configure a Writer. Zero fields take the defaults shown.
type WriterOptions struct {
	// Dir is the spill directory; required. The Writer owns it until Close:
	// give each Writer, and each replica, its own (for instance a
	// directory under the data directory).
	Dir string
	// BatchSize records are appended at once (256); a full batch is
	// flushed at once.
	BatchSize int
	// FlushInterval bounds how long a record waits in a partial batch (1s).
	// Replay of spilled records is tried at the same pace.
	FlushInterval time.Duration
	// Buffer is how many records Add can queue before it spills (8192).
	Buffer int
	// AppendTimeout bounds one Append (10s).
	AppendTimeout time.Duration
	// ReplayBatches bounds how many batches one replay round appends (16),
	// so that a long backlog does not starve fresh records.
	ReplayBatches int
	// Logger reports outages and recoveries of the ledger (slog.Default()).
	Logger *slog.Logger
	// Now stamps records added without a time (time.Now).
	Now func() time.Time
}

func (o *WriterOptions) defaults() {
	if o.BatchSize <= 0 {
		o.BatchSize = 256
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.Buffer <= 0 {
		o.Buffer = 8192
	}
	if o.AppendTimeout <= 0 {
		o.AppendTimeout = 10 * time.Second
	}
	if o.ReplayBatches <= 0 {
		o.ReplayBatches = 16
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Writer moves records from the request path into a Ledger in batches.
// Add queues a record and returns at once; one goroutine, started by Start
// and stopped by Close, appends full batches at once and partial ones every
// FlushInterval. When the queue is full, or an Append fails, records are
// written to spill files in Dir instead, and replayed into the ledger once
// it accepts appends again (appends are idempotent by Record.ID, so a
// replay interrupted by a crash counts nothing twice). Spill files are
// written without fsync on the request path and synced when sealed: they
// survive the process, not necessarily the machine.
//
// A Writer is safe for concurrent use. Lock order: mu, then spill.mu.
type Writer struct {
	ledger Ledger
	opts   WriterOptions
	spill  *spill
	log    *slog.Logger

	// mu guards closed against Add: Add holds it shared while it queues or
	// spills, Close exclusively while it sets closed, so that nothing is
	// queued after the goroutine's final drain.
	mu     sync.RWMutex
	closed bool
	queue  chan Record

	startOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
	ctx       context.Context // canceled when Close gives up waiting
	cancel    context.CancelFunc

	// Replay cursor, owned by the goroutine.
	cursorSeq uint64
	cursorOff int64
	cursorOK  bool

	written, replayed, spilled, dropped atomic.Uint64
	lastErr                             atomic.Pointer[errBox]
}

type errBox struct{ err error }

// WriterStats are a Writer's counters since NewWriter.
type WriterStats struct {
	// Written counts records appended to the ledger from the queue,
	// Replayed those appended from spill files.
	Written, Replayed uint64
	// Spilled counts records written to spill files.
	Spilled uint64
	// Dropped counts records lost: invalid ones, ones added after Close,
	// ones that could not be spilled, and torn lines in spill files.
	Dropped uint64
	// Backlog is set while spill files wait for replay.
	Backlog bool
	// Err is the last failure to append or spill; nil once the ledger takes
	// an append again.
	Err error
}

// NewWriter returns a Writer into l that spills to opts.Dir. It takes
// ownership of the directory until Close; records a previous Writer left
// there are replayed once the Writer is started.
func NewWriter(l Ledger, opts WriterOptions) (*Writer, error) {
	opts.defaults()
	sp, err := openSpill(opts.Dir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Writer{
		ledger: l,
		opts:   opts,
		spill:  sp,
		log:    opts.Logger,
		queue:  make(chan Record, opts.Buffer),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		ctx:    ctx,
		cancel: cancel,
	}, nil
}

// Start starts the Writer's goroutine. Calling it again does nothing.
func (w *Writer) Start() {
	w.startOnce.Do(func() { go w.run() })
}

// Add records r. It never waits for the ledger: r is queued, or spilled to
// disk if the queue is full. A missing ID, Time or Status is filled in and
// text fields are made valid UTF-8; a record that is still invalid (no
// tenant, negative counts) is dropped and logged. A record added after
// Close is dropped: stop the request path before closing the Writer.
func (w *Writer) Add(r Record) {
	r.normalize(w.opts.Now)
	if err := r.Validate(); err != nil {
		w.drop(1, err)
		return
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.drop(1, fmt.Errorf("usage record %s added after the writer closed", r.ID))
		return
	}
	select {
	case w.queue <- r:
		return
	default:
	}
	if err := w.spill.write([]Record{r}); err != nil {
		w.drop(1, err)
		return
	}
	w.spilled.Add(1)
}

// Close stops the goroutine after flushing what is queued: what the ledger
// does not take is spilled. If ctx ends first, the append in progress is
// abandoned and its records spilled. Close then releases the spill
// directory. It returns an error if records were lost while closing.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()

	w.Start() // a Writer never started still flushes its queue
	droppedBefore := w.dropped.Load()
	close(w.stop)
	select {
	case <-w.done:
	case <-ctx.Done():
		w.cancel()
		<-w.done
	}
	w.cancel()
	err := w.spill.close()
	if n := w.dropped.Load() - droppedBefore; n > 0 {
		err = errors.Join(err, fmt.Errorf("close usage writer: %d records lost", n))
	}
	return err
}

// Stats returns the Writer's counters.
func (w *Writer) Stats() WriterStats {
	s := WriterStats{
		Written:  w.written.Load(),
		Replayed: w.replayed.Load(),
		Spilled:  w.spilled.Load(),
		Dropped:  w.dropped.Load(),
		Backlog:  w.spill.pending.Load(),
	}
	if b := w.lastErr.Load(); b != nil {
		s.Err = b.err
	}
	return s
}

func (w *Writer) drop(n int, err error) {
	w.dropped.Add(uint64(n))
	w.log.Error("usage records dropped", "records", n, "err", err)
}

func (w *Writer) run() {
	defer close(w.done)
	tick := time.NewTicker(w.opts.FlushInterval)
	defer tick.Stop()
	batch := make([]Record, 0, w.opts.BatchSize)
	for {
		select {
		case r := <-w.queue:
			batch = append(batch, r)
			if len(batch) >= w.opts.BatchSize {
				batch = w.flush(batch)
			}
		case <-tick.C:
			healthy := true
			if len(batch) > 0 {
				healthy = w.appendOrSpill(batch)
				batch = batch[:0]
			}
			if healthy {
				w.replay()
			}
		case <-w.stop:
			for {
				select {
				case r := <-w.queue:
					batch = append(batch, r)
					if len(batch) >= w.opts.BatchSize {
						batch = w.flush(batch)
					}
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

// flush appends batch or spills it, and returns it emptied for reuse.
func (w *Writer) flush(batch []Record) []Record {
	if len(batch) > 0 {
		w.appendOrSpill(batch)
	}
	return batch[:0]
}

// appendOrSpill appends batch to the ledger, or spills it if the ledger
// fails, and reports whether the ledger took it.
func (w *Writer) appendOrSpill(batch []Record) bool {
	err := w.append(batch)
	if err == nil {
		w.written.Add(uint64(len(batch)))
		return true
	}
	if serr := w.spill.write(batch); serr != nil {
		w.drop(len(batch), errors.Join(err, serr))
		return false
	}
	w.spilled.Add(uint64(len(batch)))
	return false
}

// append calls the ledger with a timeout and tracks its health.
func (w *Writer) append(recs []Record) error {
	ctx, cancel := context.WithTimeout(w.ctx, w.opts.AppendTimeout)
	defer cancel()
	err := w.ledger.Append(ctx, recs)
	if err != nil {
		err = fmt.Errorf("append usage: %w", err)
		if prev := w.lastErr.Swap(&errBox{err}); prev == nil {
			w.log.Warn("usage ledger unavailable; spilling records to disk", "dir", w.spill.dir, "err", err)
		}
		return err
	}
	if prev := w.lastErr.Swap(nil); prev != nil {
		w.log.Info("usage ledger available again; replaying spilled records", "dir", w.spill.dir)
	}
	return nil
}

// replay appends up to ReplayBatches batches of spilled records, oldest
// first, removing each file once all of it is in the ledger. It stops at
// the first failure; the cursor then stays at the failed batch.
func (w *Writer) replay() {
	if !w.spill.pending.Swap(false) {
		return
	}
	more := true
	defer func() {
		if more {
			w.spill.pending.Store(true)
		}
	}()
	bound, err := w.spill.seal()
	if err != nil {
		w.log.Warn("seal usage spill file", "err", err)
	}
	seqs, err := w.spill.files(bound)
	if err != nil {
		w.log.Warn("replay usage spill", "err", err)
		return
	}
	budget := w.opts.ReplayBatches
	for _, seq := range seqs {
		if w.cursorOK && w.cursorSeq != seq {
			w.cursorOK = false // that file is gone
		}
		off := int64(0)
		if w.cursorOK {
			off = w.cursorOff
		}
		done, err := w.replayFile(seq, off, &budget)
		if err != nil {
			return
		}
		if !done {
			return // budget spent
		}
		if err := w.spill.remove(seq); err != nil {
			w.log.Warn("remove replayed usage spill file", "err", err)
			return
		}
		w.cursorOK = false
	}
	more = false
}

// replayFile replays one file from off while budget lasts and reports
// whether it reached the end.
func (w *Writer) replayFile(seq uint64, off int64, budget *int) (bool, error) {
	r, err := w.spill.openReader(seq, off)
	if err != nil {
		w.log.Warn("open usage spill file", "err", err)
		return false, err
	}
	defer r.f.Close()
	for *budget > 0 {
		recs, next, bad, rerr := r.next(w.opts.BatchSize)
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			w.log.Warn("read usage spill file", "err", rerr)
			return false, rerr
		}
		if len(recs) > 0 {
			if err := w.append(recs); err != nil {
				return false, err
			}
			w.replayed.Add(uint64(len(recs)))
			*budget--
		}
		if bad > 0 {
			w.drop(bad, fmt.Errorf("%d unreadable lines in usage spill file %s", bad, spillName(seq)))
		}
		w.cursorSeq, w.cursorOff, w.cursorOK = seq, next, true
		if errors.Is(rerr, io.EOF) {
			return true, nil
		}
	}
	return false, nil
}
