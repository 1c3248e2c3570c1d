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
	// Dir is the directory of the Writer's log; required. The Writer owns
	// it until Close: give each Writer, and each replica, its own (for
	// instance a directory under the data directory).
	Dir string
	// Sync makes Add return only once an fsync covers its record, shared
	// by concurrent Adds (a group commit): the record then survives the
	// machine losing power, for about 1 ms per Add on a common disk. By
	// default Add returns once the record is written to the operating
	// system: it survives the process being killed at any moment, and
	// reaches the disk when the segment is sealed, within FlushInterval.
	Sync bool
	// BatchSize records are appended at once (256); a full batch is
	// flushed at once.
	BatchSize int
	// FlushInterval bounds how long a record waits in a partial batch (1s).
	// The log's segment is sealed, and replay of dirty segments tried, at
	// the same pace.
	FlushInterval time.Duration
	// Buffer is how many records can wait in memory for the ledger (8192);
	// beyond it they wait in the log only, and are replayed from there.
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

// Writer moves records from the request path into a Ledger, durably.
//
// Add writes the record to a write-ahead log in Dir (wal.go) and, with
// Sync, waits for an fsync shared with the concurrent Adds (a group
// commit), then queues it in memory and returns: a record Add returned for
// is in the ledger eventually, whatever happens to the process after —
// the gateway adds a request's record before its answer's last byte is
// written. One goroutine, started by Start and stopped by Close, appends
// queued records to the ledger in batches, full ones at once and partial
// ones every FlushInterval, and removes each log segment once the ledger
// holds all of it. When an append fails, or the queue is full, the records
// wait in the log instead and are replayed from it once the ledger accepts
// appends again; segments an earlier process left are replayed at start.
// Appends are idempotent by Record.ID, so a replay interrupted by a crash,
// or one of records that also reached the ledger from memory, counts
// nothing twice.
//
// A Writer is safe for concurrent use. Lock order: mu, then the log's.
type Writer struct {
	ledger Ledger
	opts   WriterOptions
	log    *wal
	logger *slog.Logger

	// mu guards closed against Add: Add holds it shared while it logs and
	// queues, Close exclusively while it sets closed, so that nothing is
	// queued after the goroutine's final drain.
	mu     sync.RWMutex
	closed bool
	queue  chan queued

	startOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
	ctx       context.Context // canceled when Close gives up waiting
	cancel    context.CancelFunc

	// Replay cursor, owned by the goroutine.
	cursorSeq uint64
	cursorOff int64
	cursorOK  bool

	logged, written, replayed, spilled, dropped atomic.Uint64
	lastErr                                     atomic.Pointer[errBox]
	lastLogErr                                  atomic.Pointer[errBox]
}

// queued is a record on its way to the ledger and the log segment that
// holds it.
type queued struct {
	rec Record
	seg uint64
}

type errBox struct{ err error }

// WriterStats are a Writer's counters since NewWriter.
type WriterStats struct {
	// Logged counts records written to the log by Add.
	Logged uint64
	// Written counts records appended to the ledger from memory, Replayed
	// those appended from the log.
	Written, Replayed uint64
	// Spilled counts records that did not reach the ledger from memory (an
	// append failed, or the queue was full) and wait in the log for replay.
	Spilled uint64
	// Dropped counts records lost: invalid ones, ones added after Close,
	// ones the log could not take while the queue was full, and torn lines
	// in the log.
	Dropped uint64
	// Backlog is set while log segments wait for replay.
	Backlog bool
	// Err is the last failure to append; nil once the ledger takes an
	// append again. LogErr is the last failure to write the log; nil once
	// a write succeeds.
	Err, LogErr error
}

// NewWriter returns a Writer into l that logs to opts.Dir. It takes
// ownership of the directory until Close; records a previous Writer left
// there are replayed once the Writer is started.
func NewWriter(l Ledger, opts WriterOptions) (*Writer, error) {
	opts.defaults()
	lg, err := openWAL(opts.Dir, opts.Sync)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Writer{
		ledger: l,
		opts:   opts,
		log:    lg,
		logger: opts.Logger,
		queue:  make(chan queued, opts.Buffer),
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

// Add records r and returns once r is in the log (see Writer); it never
// waits for the ledger. A missing ID, Time or Status is filled in and
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
	seg, err := w.log.append(r)
	w.noteLog(err)
	if seg != notLogged {
		w.logged.Add(1)
	}
	select {
	case w.queue <- queued{rec: r, seg: seg}:
		return
	default:
	}
	if seg == notLogged {
		w.drop(1, errors.Join(errors.New("usage queue full"), err))
		return
	}
	w.log.dirty(seg)
	w.spilled.Add(1)
}

// noteLog tracks the health of the log; its failures are logged once per
// outage, as the ledger's are.
func (w *Writer) noteLog(err error) {
	if err != nil {
		if prev := w.lastLogErr.Swap(&errBox{err}); prev == nil {
			w.logger.Error("usage log unwritable; records wait in memory only", "dir", w.log.dir, "err", err)
		}
		return
	}
	if w.lastLogErr.Load() != nil {
		if prev := w.lastLogErr.Swap(nil); prev != nil {
			w.logger.Info("usage log writable again", "dir", w.log.dir)
		}
	}
}

// Close stops the goroutine after flushing what is queued. If ctx ends
// first, the append in progress is abandoned; what the ledger has not
// taken stays in the log for the next Writer over the directory. Close
// then releases the directory. It returns an error if records were lost
// while closing.
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
	err := w.log.close()
	if n := w.dropped.Load() - droppedBefore; n > 0 {
		err = errors.Join(err, fmt.Errorf("close usage writer: %d records lost", n))
	}
	return err
}

// Stats returns the Writer's counters.
func (w *Writer) Stats() WriterStats {
	s := WriterStats{
		Logged:   w.logged.Load(),
		Written:  w.written.Load(),
		Replayed: w.replayed.Load(),
		Spilled:  w.spilled.Load(),
		Dropped:  w.dropped.Load(),
		Backlog:  w.log.pending.Load(),
	}
	if b := w.lastErr.Load(); b != nil {
		s.Err = b.err
	}
	if b := w.lastLogErr.Load(); b != nil {
		s.LogErr = b.err
	}
	return s
}

func (w *Writer) drop(n int, err error) {
	w.dropped.Add(uint64(n))
	w.logger.Error("usage records dropped", "records", n, "err", err)
}

func (w *Writer) run() {
	defer close(w.done)
	tick := time.NewTicker(w.opts.FlushInterval)
	defer tick.Stop()
	batch := make([]queued, 0, w.opts.BatchSize)
	for {
		select {
		case q := <-w.queue:
			batch = append(batch, q)
			if len(batch) >= w.opts.BatchSize {
				batch = w.flush(batch)
			}
		case <-tick.C:
			healthy := true
			if len(batch) > 0 {
				healthy = w.ship(batch)
				batch = batch[:0]
			}
			if _, err := w.log.seal(); err != nil {
				w.logger.Warn("seal usage log segment", "err", err)
			}
			if healthy {
				w.replay()
			}
		case <-w.stop:
			for {
				select {
				case q := <-w.queue:
					batch = append(batch, q)
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

// flush ships batch and returns it emptied for reuse.
func (w *Writer) flush(batch []queued) []queued {
	if len(batch) > 0 {
		w.ship(batch)
	}
	return batch[:0]
}

// ship appends batch to the ledger and tells the log which of its
// segments' records the ledger now holds, or, if the ledger fails, which
// segments must be replayed. It reports whether the ledger took the batch.
func (w *Writer) ship(batch []queued) bool {
	recs := make([]Record, len(batch))
	for i, q := range batch {
		recs[i] = q.rec
	}
	err := w.append(recs)
	if err == nil {
		w.written.Add(uint64(len(batch)))
		forSegments(batch, w.log.shipped)
		return true
	}
	var unlogged []Record
	for _, q := range batch {
		if q.seg == notLogged {
			unlogged = append(unlogged, q.rec)
		}
	}
	// Records the log could not take at Add get another chance at it.
	if len(unlogged) > 0 {
		seg, lerr := w.log.append(unlogged...)
		w.noteLog(lerr)
		if seg == notLogged {
			w.drop(len(unlogged), errors.Join(err, lerr))
		} else { // written, even if its fsync failed
			w.log.dirty(seg) // nothing else will ship them: replay them
			w.spilled.Add(uint64(len(unlogged)))
		}
	}
	forSegments(batch, func(seg uint64, _ int) { w.log.dirty(seg) })
	w.spilled.Add(uint64(len(batch) - len(unlogged)))
	return false
}

// forSegments calls f once per run of consecutive records of one segment,
// with the run's length.
func forSegments(batch []queued, f func(seg uint64, n int)) {
	for i := 0; i < len(batch); {
		j := i + 1
		for j < len(batch) && batch[j].seg == batch[i].seg {
			j++
		}
		f(batch[i].seg, j-i)
		i = j
	}
}

// append calls the ledger with a timeout and tracks its health.
func (w *Writer) append(recs []Record) error {
	ctx, cancel := context.WithTimeout(w.ctx, w.opts.AppendTimeout)
	defer cancel()
	err := w.ledger.Append(ctx, recs)
	if err != nil {
		err = fmt.Errorf("append usage: %w", err)
		if prev := w.lastErr.Swap(&errBox{err}); prev == nil {
			w.logger.Warn("usage ledger unavailable; records wait in the local log", "dir", w.log.dir, "err", err)
		}
		return err
	}
	if prev := w.lastErr.Swap(nil); prev != nil {
		w.logger.Info("usage ledger available again; replaying the local log", "dir", w.log.dir)
	}
	return nil
}

// replay appends up to ReplayBatches batches of records from the log's
// replayable segments, oldest first, removing each segment once all of it
// is in the ledger. It stops at the first failure; the cursor then stays
// at the failed batch.
func (w *Writer) replay() {
	if !w.log.pending.Swap(false) {
		return
	}
	more := true
	defer func() {
		if more {
			w.log.pending.Store(true)
		}
	}()
	bound, err := w.log.seal()
	if err != nil {
		w.logger.Warn("seal usage log segment", "err", err)
	}
	seqs, err := w.log.replayable(bound)
	if err != nil {
		w.logger.Warn("replay usage log", "err", err)
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
		if err := w.log.replayed(seq); err != nil {
			w.logger.Warn("remove replayed usage log segment", "err", err)
			return
		}
		w.cursorOK = false
	}
	more = false
}

// replayFile replays one file from off while budget lasts and reports
// whether it reached the end.
func (w *Writer) replayFile(seq uint64, off int64, budget *int) (bool, error) {
	r, err := w.log.openReader(seq, off)
	if err != nil {
		w.logger.Warn("open usage log segment", "err", err)
		return false, err
	}
	defer r.f.Close()
	for *budget > 0 {
		recs, next, bad, rerr := r.next(w.opts.BatchSize)
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			w.logger.Warn("read usage log segment", "err", rerr)
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
			w.drop(bad, fmt.Errorf("%d unreadable lines in usage log segment %s", bad, segName(seq)))
		}
		w.cursorSeq, w.cursorOff, w.cursorOK = seq, next, true
		if errors.Is(rerr, io.EOF) {
			return true, nil
		}
	}
	return false, nil
}
