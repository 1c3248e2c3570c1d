package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// run takes a batch through its lifecycle from where it is, while this
// process holds its lease. ctx ends when the service closes or the lease
// is lost (cancel); work, a child of it, also when the batch is cancelled
// (stop): the lines running end, and the batch is finalized as cancelled.
func (s *Service) run(ctx context.Context, cancel context.CancelFunc, work context.Context, stop context.CancelFunc, b Batch) {
	held, err := s.store.ClaimBatch(ctx, b.ID, s.opt.Owner, s.opt.Lease)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			s.log.Warn("claim batch", "batch", b.ID, "error", err.Error())
		}
		return
	case !held:
		return // another replica's, or done
	}
	release := s.holdLease(ctx, cancel, stop, b)
	defer release()
	if done := b.Counts.Completed + b.Counts.Failed; done > 0 && !b.Status.Final() {
		s.log.Info("resuming batch", "batch", b.ID, "status", string(b.Status), "lines_done", done, "lines", b.Counts.Total)
	}
	for ctx.Err() == nil {
		cur, err := s.store.LoadBatch(ctx, b.TenantID, b.ID)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("read batch", "batch", b.ID, "error", err.Error())
			}
			return
		}
		now := time.Now().UTC()
		switch cur.Status {
		case Validating:
			cur.Status, cur.Times.InProgress = InProgress, &now
			if _, err := s.store.UpdateBatch(ctx, cur, Validating); err != nil {
				s.log.Warn("start batch", "batch", b.ID, "error", err.Error())
				return
			}
		case InProgress:
			if !now.Before(cur.ExpiresAt) {
				if !s.finish(ctx, cur, Expired, InProgress) {
					return
				}
				continue
			}
			done, err := s.work(ctx, work, cur)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("run batch", "batch", b.ID, "error", err.Error())
				}
				return // tried again at the next poll
			}
			if done {
				now = time.Now().UTC()
				cur.Status, cur.Times.Finalizing = Finalizing, &now
				if _, err := s.store.UpdateBatch(ctx, cur, InProgress); err != nil {
					s.log.Warn("finalize batch", "batch", b.ID, "error", err.Error())
					return
				}
			} else if work.Err() != nil && ctx.Err() == nil && time.Now().Before(cur.ExpiresAt) {
				// Stopped by a cancel: the next read finds it cancelling.
				var wc context.CancelFunc
				work, wc = context.WithCancel(ctx)
				defer wc()
				s.mu.Lock()
				s.running[b.ID] = wc
				s.mu.Unlock()
			}
		case Finalizing:
			if !s.finish(ctx, cur, Completed, Finalizing) {
				return
			}
		case Cancelling:
			if !s.finish(ctx, cur, Cancelled, Cancelling) {
				return
			}
		default:
			return // done
		}
	}
}

// holdLease renews the lease on b every third of Lease until the returned
// release is called, which gives it up. A lease lost to another replica
// ends the run (cancel); a batch found cancelling, by a replica that
// does not run it, stops its lines (stop).
func (s *Service) holdLease(ctx context.Context, cancel, stop context.CancelFunc, b Batch) (release func()) {
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
			held, err := s.store.ClaimBatch(ctx, b.ID, s.opt.Owner, s.opt.Lease)
			switch {
			case err != nil:
				if ctx.Err() == nil {
					s.log.Warn("renew batch lease", "batch", b.ID, "error", err.Error())
				}
			case !held:
				// Lost to another replica (this one stalled past it), or
				// the batch is done: the run ends, and a line running
				// now may be run again by the other replica; its result
				// is stored once.
				if cur, err := s.store.LoadBatch(ctx, b.TenantID, b.ID); err != nil || !cur.Status.Final() {
					s.log.Warn("batch lease lost; another replica has the batch", "batch", b.ID)
				}
				cancel()
				return
			}
			if cur, err := s.store.LoadBatch(ctx, b.TenantID, b.ID); err == nil && cur.Status == Cancelling {
				s.mu.Lock()
				if st, ok := s.running[b.ID]; ok {
					st()
				}
				s.mu.Unlock()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		if err := s.store.ReleaseBatch(context.WithoutCancel(ctx), b.ID, s.opt.Owner); err != nil {
			s.log.Warn("release batch lease", "batch", b.ID, "error", err.Error())
		}
	}
}

// pageSize is how many lines are read from the store at once.
const pageSize = 64

// work runs b's lines that have no result, Workers at a time in the
// process, until none is left (done) or work ends (the batch cancelled,
// its window over, the service closing).
func (s *Service) work(ctx, work context.Context, b Batch) (done bool, err error) {
	work, cancel := context.WithDeadline(work, b.ExpiresAt)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	after := -1
lines:
	for work.Err() == nil {
		todo, err := s.store.BatchTodo(work, b.ID, after, pageSize)
		if err != nil {
			if work.Err() != nil {
				break
			}
			return false, err
		}
		if len(todo) == 0 {
			break
		}
		for _, l := range todo {
			select {
			case s.sem <- struct{}{}:
			case <-work.Done():
				break lines
			}
			wg.Go(func() {
				defer func() { <-s.sem }()
				s.runLine(work, b, l)
			})
		}
		after = todo[len(todo)-1].Index
	}
	wg.Wait()
	if work.Err() != nil {
		return false, nil
	}
	rest, err := s.store.BatchTodo(ctx, b.ID, -1, 1)
	if err != nil {
		return false, err
	}
	if len(rest) > 0 {
		return false, fmt.Errorf("%d or more lines have no result stored", len(rest))
	}
	return true, nil
}

// runLine runs a line, tries it again while it fails in a way that
// passes, and stores its result. A line cut off by ctx stores nothing.
func (s *Service) runLine(ctx context.Context, b Batch, l Line) {
	wait, attempt := s.opt.Backoff, 0
	for {
		if s.pace.acquire(ctx) != nil { // pace.go
			return
		}
		start := time.Now()
		r := s.exec.Execute(ctx, b, l)
		s.pace.release(time.Since(start), r)
		if ctx.Err() != nil {
			return
		}
		if r.Busy || passing(r) && attempt < s.opt.Retries {
			if !r.Busy {
				attempt++
			}
			t := time.NewTimer(min(max(wait, r.RetryAfter), time.Minute))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			wait = min(2*wait, 30*time.Second)
			continue
		}
		r.Index, r.CustomID = l.Index, l.CustomID
		s.storeResult(ctx, b, r)
		return
	}
}

// resultTries is how many times a line's result is offered to the store.
const resultTries = 4

// storeResult stores a line's result, trying again a few times with
// backoff: a store busy for a moment (SQLite's write lock under load)
// would otherwise leave the line to run upstream again at the next poll.
// Storing is idempotent (the first result of a line wins).
func (s *Service) storeResult(ctx context.Context, b Batch, r Result) {
	wait := s.opt.Backoff
	for try := 1; ; try++ {
		_, err := s.store.PutBatchResult(ctx, b.ID, r)
		if err == nil || ctx.Err() != nil {
			return
		}
		if try == resultTries {
			s.log.Warn("store batch line result", "batch", b.ID, "line", r.Index, "tries", try, "error", err.Error())
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// passing reports whether a line's failure may pass if tried again.
func passing(r Result) bool {
	return r.Error == nil && (r.StatusCode == 429 || r.StatusCode >= 500)
}

// finish writes b's output and error files and moves it from from to
// status to; false when it could not (tried again at the next poll).
func (s *Service) finish(ctx context.Context, b Batch, to, from Status) bool {
	var out, errs bytes.Buffer
	enc := func(buf *bytes.Buffer, r Result) error {
		line := outputLine{ID: fmt.Sprintf("batch_req_%s_%d", strings.TrimPrefix(b.ID, "batch_"), r.Index), CustomID: r.CustomID, Error: r.Error}
		if r.Error == nil {
			line.Response = &responseWire{StatusCode: r.StatusCode, RequestID: r.RequestID, Body: r.Body}
		}
		j, err := json.Marshal(line)
		if err != nil {
			return err
		}
		buf.Write(j)
		buf.WriteByte('\n')
		return nil
	}
	err := s.store.BatchResults(ctx, b.ID, func(r Result) error {
		if r.OK() {
			return enc(&out, r)
		}
		return enc(&errs, r)
	})
	if err == nil && to == Expired {
		after := -1
		for err == nil {
			var todo []Line
			if todo, err = s.store.BatchTodo(ctx, b.ID, after, 1000); err != nil || len(todo) == 0 {
				break
			}
			for _, l := range todo {
				if err = enc(&errs, Result{Index: l.Index, CustomID: l.CustomID,
					Error: &LineError{Code: "batch_expired", Message: "this request could not be executed before the completion window expired"}}); err != nil {
					break
				}
			}
			after = todo[len(todo)-1].Index
		}
	}
	if err != nil {
		s.log.Warn("read batch results", "batch", b.ID, "error", err.Error())
		return false
	}
	name := strings.TrimPrefix(b.ID, "batch_")
	if out.Len() > 0 {
		b.OutputFileID = "file-batch_" + name + "_output"
		if err := s.files.Put(ctx, b.TenantID, b.OutputFileID, b.ID+"_output.jsonl", "batch_output", out.Bytes()); err != nil {
			s.log.Warn("write batch output file", "batch", b.ID, "error", err.Error())
			return false
		}
	}
	if errs.Len() > 0 {
		b.ErrorFileID = "file-batch_" + name + "_error"
		if err := s.files.Put(ctx, b.TenantID, b.ErrorFileID, b.ID+"_error.jsonl", "batch_output", errs.Bytes()); err != nil {
			s.log.Warn("write batch error file", "batch", b.ID, "error", err.Error())
			return false
		}
	}
	now := time.Now().UTC()
	b.Status = to
	switch to {
	case Completed:
		b.Times.Completed = &now
	case Expired:
		b.Times.Expired = &now
	case Cancelled:
		b.Times.Cancelled = &now
	}
	if _, err := s.store.UpdateBatch(ctx, b, from); err != nil {
		s.log.Warn("end batch", "batch", b.ID, "error", err.Error())
		return false
	}
	return true
}

// outputLine is a line of a batch's output or error file.
type outputLine struct {
	ID       string        `json:"id"`
	CustomID string        `json:"custom_id"`
	Response *responseWire `json:"response"`
	Error    *LineError    `json:"error"`
}

type responseWire struct {
	StatusCode int             `json:"status_code"`
	RequestID  string          `json:"request_id"`
	Body       json.RawMessage `json:"body"`
}
