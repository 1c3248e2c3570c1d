package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"
)

// Format names the archive format in its manifest; FormatVersion is the
// version this package writes and the newest it reads.
const (
	Format        = "bulwark-backup"
	FormatVersion = 1
)

// manifestName is the archive's first entry.
const manifestName = "MANIFEST.json"

// The entries of an archive besides the manifest.
const (
	dbFile       = "bulwark.db"
	adminKeyFile = "admin.key" // tenant.AdminKeyFile
	spillDir     = "usage-spill"
)

// An archive's gzip header is fixed but for a SHA-256 it carries in an
// extra field (subfield "BK"): the checksum of every byte that follows
// the header. The gzip CRC covers the data but not the header, nor the
// padding bits deflate ignores; with the header fixed and this checksum,
// every bit of an archive is checked.
const (
	headerLen = 48 // 10 fixed bytes, XLEN, the subfield's 4 bytes and the sum
	sumOffset = 16
)

// headerPrefix is the header up to the checksum: deflate, FEXTRA, no
// time, no OS (what compress/gzip writes), XLEN 36, subfield BK of 32
// bytes.
var headerPrefix = []byte{0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 36, 0, 'B', 'K', 32, 0}

// maxManifestBytes bounds the manifest read from an archive.
const maxManifestBytes = 16 << 20

// ErrCorrupt is wrapped by every error that says an archive is damaged,
// truncated or not an archive of this format.
var ErrCorrupt = errors.New("backup archive is corrupt")

// Manifest describes an archive: what made it and what it holds.
type Manifest struct {
	Format        string    `json:"format"`
	FormatVersion int       `json:"format_version"`
	Created       time.Time `json:"created"`
	// Bulwark is the version of the binary that wrote the archive.
	Bulwark string `json:"bulwark_version"`
	// Store is the backend the archive is of: "sqlite".
	Store string `json:"store"`
	// SchemaVersion is the database's schema version (its newest
	// migration).
	SchemaVersion int `json:"schema_version"`
	// VectorIndexes says how vector indexes come back: "rebuilt" from
	// the database on first use.
	VectorIndexes string `json:"vector_indexes"`
	Files         []File `json:"files"`
}

// File is one entry of an archive.
type File struct {
	// Path is slash-separated and relative to the data directory.
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// compatible reports an archive, intact, that this binary cannot
// restore. It is checked once the whole archive is known intact, so that
// damage is reported as damage.
func (m *Manifest) compatible() error {
	if m.FormatVersion < 1 || m.FormatVersion > FormatVersion {
		return fmt.Errorf("backup archive: format version %d is not one this binary reads (1 to %d)", m.FormatVersion, FormatVersion)
	}
	if m.Store != "sqlite" {
		return fmt.Errorf("backup archive: store %q is not one this binary restores", m.Store)
	}
	return nil
}

// check reports what makes m unreadable: a manifest of another format or
// one that lists its files wrong.
func (m *Manifest) check() error {
	if m.Format != Format {
		return corrupt("manifest format is %q, not %q", m.Format, Format)
	}
	seen := map[string]bool{}
	hasDB := false
	for _, f := range m.Files {
		if !validPath(f.Path) {
			return corrupt("manifest names an unsafe path %q", f.Path)
		}
		if seen[f.Path] {
			return corrupt("manifest names %s twice", f.Path)
		}
		seen[f.Path] = true
		if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != sha256.Size {
			return corrupt("manifest: %s: checksum %q is not a SHA-256", f.Path, f.SHA256)
		}
		if f.Size < 0 {
			return corrupt("manifest: %s: negative size", f.Path)
		}
		hasDB = hasDB || f.Path == dbFile
	}
	if !hasDB {
		return corrupt("manifest lists no %s", dbFile)
	}
	return nil
}

// validPath admits the entries an archive holds: bulwark.db, admin.key
// and usage-spill/<name>.
func validPath(p string) bool {
	if p == dbFile || p == adminKeyFile {
		return true
	}
	dir, name := path.Split(p)
	return dir == spillDir+"/" && name != "" && name != "." && name != ".." && filepath.IsLocal(name)
}

// writeArchive writes m and the files it lists, read from dir, to f as
// an archive.
func writeArchive(f *os.File, m *Manifest, dir string) error {
	return writeTar(f, m, m.Files, dir)
}

// writeTar writes the manifest m and then files, read from dir, to f as
// a gzip-compressed tar, and seals it with the checksum of what follows
// its header. (Tests make archives whose manifest and entries disagree
// with it.)
func writeTar(f *os.File, m *Manifest, files []File, dir string) error {
	start, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	sw := &sealWriter{w: f, h: sha256.New()}
	gz := gzip.NewWriter(sw)
	gz.Extra = make([]byte, headerLen-12)
	copy(gz.Extra, headerPrefix[12:])
	tw := tar.NewWriter(gz)
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	mb = append(mb, '\n')
	hdr := &tar.Header{Name: manifestName, Mode: 0o600, Size: int64(len(mb)), ModTime: m.Created, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := tw.Write(mb); err != nil {
		return err
	}
	for _, f := range files {
		if err := addFile(tw, f, filepath.Join(dir, filepath.FromSlash(f.Path)), m.Created); err != nil {
			return fmt.Errorf("archive %s: %w", f.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	_, err = f.WriteAt(sw.h.Sum(nil), start+sumOffset)
	return err
}

// sealWriter hashes what is written through it after the header.
type sealWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (s *sealWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if skip := max(0, min(int64(n), headerLen-s.n)); int64(n) > skip {
		s.h.Write(p[skip:n])
	}
	s.n += int64(n)
	return n, err
}

func addFile(tw *tar.Writer, f File, src string, mod time.Time) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	hdr := &tar.Header{Name: f.Path, Mode: 0o600, Size: f.Size, ModTime: mod, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	// The staged file does not change: its size and checksum are the
	// manifest's.
	n, err := io.Copy(tw, in)
	if err != nil {
		return err
	}
	if n != f.Size {
		return fmt.Errorf("size changed while archiving: %d bytes, not %d", n, f.Size)
	}
	return nil
}

// readArchive reads an archive from r, checking it whole: the manifest
// first, then every entry against it — each listed once, with its size
// and SHA-256 — and nothing missing or extra, to the gzip trailer. each,
// when not nil, is called with every entry's content as it is read; an
// entry is known good only once readArchive returns nil. Damage,
// truncation and any mismatch are errors wrapping ErrCorrupt.
func readArchive(r io.Reader, each func(f File, content io.Reader) error) (*Manifest, error) {
	head := make([]byte, headerLen)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, corrupt("reading the header: %v", err)
	}
	if !bytes.Equal(head[:sumOffset], headerPrefix) {
		return nil, corrupt("the header % x is not the one bulwark backup writes", head[:sumOffset])
	}
	h := sha256.New()
	rest := io.TeeReader(r, h)
	gz, err := gzip.NewReader(io.MultiReader(bytes.NewReader(head), rest))
	if err != nil {
		return nil, corrupt("not a gzip stream: %v", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	hdr, err := tr.Next()
	if err != nil {
		return nil, corrupt("reading the manifest: %v", err)
	}
	if hdr.Name != manifestName {
		return nil, corrupt("first entry is %q, not %s", hdr.Name, manifestName)
	}
	mb, err := io.ReadAll(io.LimitReader(tr, maxManifestBytes+1))
	if err != nil {
		return nil, corrupt("reading the manifest: %v", err)
	}
	if len(mb) > maxManifestBytes {
		return nil, corrupt("manifest larger than %d bytes", maxManifestBytes)
	}
	var m Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, corrupt("manifest: %v", err)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	want := map[string]File{}
	for _, f := range m.Files {
		want[f.Path] = f
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, corrupt("after %d of %d files: %v", len(m.Files)-len(want), len(m.Files), err)
		}
		f, ok := want[hdr.Name]
		if !ok {
			return nil, corrupt("entry %q is not in the manifest, or appears twice", hdr.Name)
		}
		delete(want, hdr.Name)
		if hdr.Typeflag != tar.TypeReg || hdr.Size != f.Size {
			return nil, corrupt("%s: a %d-byte entry, the manifest says a %d-byte file", f.Path, hdr.Size, f.Size)
		}
		if err := readEntry(tr, f, each); err != nil {
			return nil, err
		}
	}
	for p := range want {
		return nil, corrupt("%s is missing (the archive is truncated?)", p)
	}
	// The tar's end is not the stream's: read to the gzip trailer so
	// that its checksum and length are verified.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return nil, corrupt("after the last entry: %v", err)
	}
	if _, err := io.Copy(io.Discard, rest); err != nil {
		return nil, corrupt("after the last entry: %v", err)
	}
	if !bytes.Equal(h.Sum(nil), head[sumOffset:]) {
		return nil, corrupt("the archive's SHA-256 is not the one its header records")
	}
	if err := m.compatible(); err != nil {
		return nil, err
	}
	return &m, nil
}

// readEntry reads one entry's content, hands it to each and checks its
// size and checksum.
func readEntry(content io.Reader, f File, each func(File, io.Reader) error) error {
	h := sha256.New()
	cr := &countingReader{r: io.TeeReader(content, h)}
	if each != nil {
		if err := each(f, cr); err != nil {
			if cr.err != nil {
				return corrupt("%s: %v", f.Path, cr.err)
			}
			return err
		}
	}
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return corrupt("%s: %v", f.Path, err)
	}
	if cr.n != f.Size {
		return corrupt("%s: %d bytes, the manifest says %d", f.Path, cr.n, f.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return corrupt("%s: SHA-256 %s, the manifest says %s", f.Path, got, f.SHA256)
	}
	return nil
}

// countingReader counts what it reads and keeps the underlying reader's
// error, so that a damaged archive is told from a failed write.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// hashFile returns the size and SHA-256 of the file at p.
func hashFile(p string) (int64, string, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
