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

// Spill files are JSON lines named usage-spill-<seq>.jsonl, seq increasing.
const (
	spillPrefix = "usage-spill-"
	spillSuffix = ".jsonl"
)

// spillDirs holds the absolute paths of the spill directories owned by a
// live Writer in this process, so that two Writers (say, across a bad
// reload) never replay each other's open file.
var spillDirs sync.Map

// spill is the local overflow of a Writer: records the ledger has not
// taken yet. write is called from Add (any goroutine) and from the Writer's
// goroutine; seal, files and the replay cursor belong to the Writer's
// goroutine. mu guards f and next.
type spill struct {
	dir string

	mu   sync.Mutex
	f    *os.File // the file being written; nil until the next write
	next uint64   // seq of the next file to open

	// pending is set when files may be waiting for replay.
	pending atomic.Bool
}

func spillName(seq uint64) string { return fmt.Sprintf("%s%016d%s", spillPrefix, seq, spillSuffix) }

func parseSpillName(name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, spillPrefix)
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, spillSuffix)
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(s, 10, 64)
	return seq, err == nil
}

// openSpill takes ownership of dir, creating it with mode 0700 if needed,
// and notes any files a previous Writer left there for replay.
func openSpill(dir string) (*spill, error) {
	if dir == "" {
		return nil, errors.New("usage writer: no spill directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("usage writer: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("usage writer: create spill directory: %w", err)
	}
	if _, loaded := spillDirs.LoadOrStore(abs, true); loaded {
		return nil, fmt.Errorf("usage writer: spill directory %s is owned by another writer", abs)
	}
	s := &spill{dir: abs}
	seqs, err := s.files(^uint64(0))
	if err != nil {
		spillDirs.Delete(abs)
		return nil, fmt.Errorf("usage writer: %w", err)
	}
	if len(seqs) > 0 {
		s.next = seqs[len(seqs)-1] + 1
		s.pending.Store(true)
	}
	return s, nil
}

// write appends recs to the open spill file, opening a new one if needed.
func (s *spill) write(recs []Record) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("spill usage: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		f, err := os.OpenFile(filepath.Join(s.dir, spillName(s.next)), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("spill usage: %w", err)
		}
		s.f = f
		s.next++
	}
	if _, err := s.f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("spill usage: %w", err)
	}
	s.pending.Store(true)
	return nil
}

// seal closes the file being written, so that the next write opens a new
// one, and returns the bound below which every file's seq is sealed.
func (s *spill) seal() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.f != nil {
		if err = s.f.Sync(); err == nil {
			err = s.f.Close()
		} else {
			_ = s.f.Close()
		}
		s.f = nil
	}
	return s.next, err
}

// files lists the seqs of the spill files below bound, in order.
func (s *spill) files(bound uint64) ([]uint64, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list spill files: %w", err)
	}
	var seqs []uint64
	for _, e := range entries {
		if seq, ok := parseSpillName(e.Name()); ok && e.Type().IsRegular() && seq < bound {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	return seqs, nil
}

// close seals the open file and gives up the directory.
func (s *spill) close() error {
	_, err := s.seal()
	spillDirs.Delete(s.dir)
	return err
}

// reader reads the records of one sealed spill file from an offset.
type reader struct {
	f   *os.File
	br  *bufio.Reader
	off int64
}

func (s *spill) openReader(seq uint64, off int64) (*reader, error) {
	f, err := os.Open(filepath.Join(s.dir, spillName(seq)))
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

func (s *spill) remove(seq uint64) error {
	err := os.Remove(filepath.Join(s.dir, spillName(seq)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
