package usage

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Log segments are JSON lines named usage-spill-<seq>.jsonl, seq
// increasing from 1. (The name predates the log: a directory a Writer of an
// earlier release spilled into is replayed the same way.)
const (
	segPrefix = "usage-spill-"
	segSuffix = ".jsonl"
)

// logDirs holds the absolute paths of the log directories owned by a live
// Writer in this process, so that two Writers (say, across a bad reload)
// never replay each other's open segment.
var logDirs sync.Map

// notLogged is the segment of a record the log could not take (the disk
// failed): it travels in memory only.
const notLogged = 0

// wal is a Writer's write-ahead log: every record Add accepts is appended
// to the open segment (and, with sync, flushed to stable storage by a
// group commit) before Add returns, so that a record survives the process
// being killed at any moment after. A segment is sealed at every flush
// interval and removed once every record in it is in the ledger; a sealed
// segment holding a record the ledger did not take (an append failed, or
// the queue was full) is dirty and is replayed from disk, whole — appends
// are idempotent by Record.ID. Segments left by an earlier process are
// replayed the same way.
//
// mu guards every field below it. Lock order: Writer.mu, then wal.mu.
type wal struct {
	dir    string
	sync   bool
	unlock func() // gives up the directory's lock (lock_unix.go)

	mu   sync.Mutex
	f    *os.File // the open segment; nil until the next write
	cur  uint64   // seq of f
	next uint64   // seq of the next segment to open
	segs map[uint64]*segment

	// Group commit: written counts records written, synced those known to
	// be on stable storage; one writer at a time syncs for everyone
	// (syncing), and the others wait for the end of its round.
	written, synced uint64
	syncing         bool
	round           chan struct{}
	// failedTo and failErr are the last failed sync: the first failedTo
	// records written are not known to be on stable storage, and a later
	// sync's success does not say they are (the kernel reports a lost
	// write once), so their Adds fail.
	failedTo uint64
	failErr  error

	// pending is set when segments may be waiting for replay.
	pending atomic.Bool
}

// segment is what this process knows of a segment it wrote.
type segment struct {
	records, shipped int
	sealed, dirty    bool
}

func segName(seq uint64) string { return fmt.Sprintf("%s%016d%s", segPrefix, seq, segSuffix) }

func parseSegName(name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, segPrefix)
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, segSuffix)
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(s, 10, 64)
	return seq, err == nil
}

// openWAL takes ownership of dir, creating it with mode 0700 if needed,
// and notes any segments a previous Writer left there for replay.
func openWAL(dir string, sync bool) (*wal, error) {
	if dir == "" {
		return nil, errors.New("usage writer: no log directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("usage writer: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("usage writer: create log directory: %w", err)
	}
	if _, loaded := logDirs.LoadOrStore(abs, true); loaded {
		return nil, fmt.Errorf("usage writer: log directory %s is owned by another writer", abs)
	}
	unlock, err := lockDir(abs)
	if err != nil {
		logDirs.Delete(abs)
		return nil, err
	}
	l := &wal{dir: abs, sync: sync, unlock: unlock, next: 1, segs: map[uint64]*segment{}, round: make(chan struct{})}
	seqs, err := l.files(^uint64(0))
	if err != nil {
		unlock()
		logDirs.Delete(abs)
		return nil, fmt.Errorf("usage writer: %w", err)
	}
	if len(seqs) > 0 {
		l.next = seqs[len(seqs)-1] + 1
		l.pending.Store(true)
	}
	return l, nil
}

// append writes recs to the open segment, opening one if needed, and
// returns its seq once the records are written (and, with sync, on stable
// storage). On an error nothing was logged: seq is notLogged.
func (l *wal) append(recs ...Record) (uint64, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return notLogged, fmt.Errorf("log usage: %w", err)
		}
	}
	l.mu.Lock()
	if l.f == nil {
		if err := l.openLocked(); err != nil {
			l.mu.Unlock()
			return notLogged, err
		}
	}
	if _, err := l.f.Write(buf.Bytes()); err != nil {
		// A short write leaves a torn line, skipped at replay; the
		// segment must not take more lines after it.
		l.sealLocked()
		l.mu.Unlock()
		return notLogged, fmt.Errorf("log usage: %w", err)
	}
	seq := l.cur
	l.segs[seq].records += len(recs)
	l.written += uint64(len(recs))
	mine := l.written
	if !l.sync {
		l.mu.Unlock()
		return seq, nil
	}
	err := l.syncLocked(mine)
	l.mu.Unlock()
	return seq, err
}

// openLocked opens a new segment, and with sync makes its directory entry
// durable too.
func (l *wal) openLocked() error {
	seq := l.next
	f, err := os.OpenFile(filepath.Join(l.dir, segName(seq)), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("log usage: %w", err)
	}
	if l.sync {
		if err := syncDir(l.dir); err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
			return fmt.Errorf("log usage: %w", err)
		}
	}
	l.f, l.cur, l.next = f, seq, seq+1
	l.segs[seq] = &segment{}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncLocked returns once the first n records written are on stable
// storage. Whoever finds no sync under way syncs the open segment for
// every record written so far (a group commit) while the others wait for
// its round to end; a segment sealed meanwhile was synced by seal. It is
// called, and returns, with mu held.
func (l *wal) syncLocked(n uint64) error {
	for l.synced < n {
		if n <= l.failedTo {
			return l.failErr
		}
		if l.syncing {
			round := l.round
			l.mu.Unlock()
			<-round
			l.mu.Lock()
			continue
		}
		f, target := l.f, l.written
		if f == nil {
			// Sealed since n was written: a seal that synced set synced;
			// one that failed set failedTo.
			l.synced = max(l.synced, target)
			break
		}
		l.syncing = true
		l.mu.Unlock()
		err := f.Sync()
		l.mu.Lock()
		l.syncing = false
		close(l.round)
		l.round = make(chan struct{})
		if err != nil {
			l.failedTo, l.failErr = target, fmt.Errorf("sync usage log: %w", err)
			return l.failErr
		}
		l.synced = max(l.synced, target)
	}
	return nil
}

// seal closes the open segment, so that the next write opens a new one,
// removes it if the ledger already holds all of it, and returns the bound
// below which every segment is sealed.
func (l *wal) seal() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.sealLocked()
	return l.next, err
}

func (l *wal) sealLocked() error {
	for l.syncing { // the group commit's file must stay open until it is done
		round := l.round
		l.mu.Unlock()
		<-round
		l.mu.Lock()
	}
	if l.f == nil {
		return nil
	}
	err := l.f.Sync()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		l.synced = l.written
	} else {
		l.failedTo, l.failErr = l.written, fmt.Errorf("seal usage log segment: %w", err)
	}
	l.f = nil
	s := l.segs[l.cur]
	s.sealed = true
	if err != nil {
		s.dirty = true // replay what reached the file; the rest is in the queue
	}
	l.settleLocked(l.cur, s)
	return err
}

// shipped notes that the ledger holds n more records of segment seq.
func (l *wal) shipped(seq uint64, n int) {
	if seq == notLogged {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.segs[seq]; s != nil {
		s.shipped += n
		l.settleLocked(seq, s)
	}
}

// dirty notes that a record of segment seq did not reach the ledger from
// memory: the segment must be replayed from disk once sealed.
func (l *wal) dirty(seq uint64) {
	if seq == notLogged {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.segs[seq]; s != nil {
		s.dirty = true
		l.pending.Store(true) // replay seals it first
	}
}

// settleLocked removes a sealed segment the ledger holds all of, and flags
// a sealed dirty one for replay.
func (l *wal) settleLocked(seq uint64, s *segment) {
	if !s.sealed {
		return
	}
	switch {
	case s.dirty:
		l.pending.Store(true)
	case s.shipped >= s.records:
		if err := l.removeFile(seq); err == nil {
			delete(l.segs, seq)
		} else {
			s.dirty = true // replay it, then try again
			l.pending.Store(true)
		}
	}
}

// replayable lists the sealed segments below bound to replay, oldest
// first: those an earlier process left and the dirty ones. A clean
// segment whose records are still on their way from memory is not.
func (l *wal) replayable(bound uint64) ([]uint64, error) {
	seqs, err := l.files(bound)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.DeleteFunc(seqs, func(seq uint64) bool {
		s := l.segs[seq]
		return s != nil && !s.dirty
	}), nil
}

// replayed forgets segment seq once a replay put all of it in the ledger.
func (l *wal) replayed(seq uint64) error {
	if err := l.removeFile(seq); err != nil {
		return err
	}
	l.mu.Lock()
	delete(l.segs, seq)
	l.mu.Unlock()
	return nil
}

// files lists the seqs of the segments below bound, in order.
func (l *wal) files(bound uint64) ([]uint64, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("list usage log: %w", err)
	}
	var seqs []uint64
	for _, e := range entries {
		if seq, ok := parseSegName(e.Name()); ok && e.Type().IsRegular() && seq < bound {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	return seqs, nil
}

func (l *wal) removeFile(seq uint64) error {
	err := os.Remove(filepath.Join(l.dir, segName(seq)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// close seals the open segment and gives up the directory.
func (l *wal) close() error {
	_, err := l.seal()
	l.unlock()
	logDirs.Delete(l.dir)
	return err
}

// reader reads the records of one sealed segment from an offset.
type reader struct {
	f   *os.File
	br  *bufio.Reader
	off int64
}

func (l *wal) openReader(seq uint64, off int64) (*reader, error) {
	f, err := os.Open(filepath.Join(l.dir, segName(seq)))
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, err
	}
	return &reader{f: f, br: bufio.NewReader(f), off: off}, nil
}

// next returns up to n records and the offset just past them. bad counts
// lines that could not be decoded (a line torn by a crash) and were skipped.
func (r *reader) next(n int) (recs []Record, off int64, bad int, err error) {
	for len(recs) < n {
		line, err := r.br.ReadBytes('\n')
		r.off += int64(len(line))
		if len(bytes.TrimSpace(line)) > 0 {
			var rec Record
			if json.Unmarshal(line, &rec) != nil || rec.Validate() != nil {
				bad++
			} else {
				recs = append(recs, rec)
			}
		}
		if errors.Is(err, io.EOF) {
			return recs, r.off, bad, io.EOF
		}
		if err != nil {
			return recs, r.off, bad, err
		}
	}
	return recs, r.off, bad, nil
}
