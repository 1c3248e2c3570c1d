package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/sqlite"
)

// Options describe one backup.
type Options struct {
	// DataDir is the data directory to back up; a server may be running
	// on it.
	DataDir string
	// Out is the archive file to write. It is written beside itself and
	// renamed into place once complete, so that a failed backup never
	// leaves a partial archive or replaces a good one. An s3://bucket/key
	// URL writes the archive to object storage through S3 instead: staged
	// in TempDir, uploaded as one multipart upload (the object appears
	// only once whole), then read back and verified.
	Out string
	// S3 is the object storage client an s3:// Out needs.
	S3 *S3
	// TempDir is where an archive for object storage is staged (default
	// os.TempDir()).
	TempDir string
	// Version is the Bulwark version recorded in the manifest.
	Version string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Progress, when set, is told each step as it starts, for a command
	// line to show.
	Progress func(step string)
}

func (o Options) step(s string) {
	if o.Progress != nil {
		o.Progress(s)
	}
}

// Create writes an archive of o.DataDir to o.Out and returns its
// manifest. See the package documentation for what it holds and why it is
// consistent while a server writes.
func Create(ctx context.Context, o Options) (*Manifest, error) {
	if o.DataDir == "" || o.Out == "" {
		return nil, errors.New("backup: a data directory and an output file are needed")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if IsS3(o.Out) {
		return createS3(ctx, o)
	}
	if _, err := os.Stat(filepath.Join(o.DataDir, dbFile)); err != nil {
		return nil, fmt.Errorf("backup: %s holds no Bulwark database: %w", o.DataDir, err)
	}
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	stage, err := os.MkdirTemp(filepath.Dir(out), ".bulwark-backup-*")
	if err != nil {
		return nil, fmt.Errorf("backup: staging directory: %w", err)
	}
	defer os.RemoveAll(stage)

	m := &Manifest{Format: Format, FormatVersion: FormatVersion, Created: o.Now().UTC(),
		Bulwark: o.Version, Store: "sqlite", VectorIndexes: "rebuilt"}
	// The usage log before the database: a segment is removed only once
	// its records are in the database, so each record acknowledged
	// before now is in the copied log, the snapshot, or both.
	o.step("copying the usage log")
	spilled, err := copySpill(filepath.Join(o.DataDir, spillDir), filepath.Join(stage, spillDir))
	if err != nil {
		return nil, fmt.Errorf("backup: usage log: %w", err)
	}
	o.step("snapshot of the database")
	if err := sqlite.Snapshot(ctx, filepath.Join(o.DataDir, dbFile), filepath.Join(stage, dbFile)); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if m.SchemaVersion, err = sqlite.Inspect(ctx, filepath.Join(stage, dbFile)); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	paths := []string{dbFile}
	switch err := copyFile(filepath.Join(o.DataDir, adminKeyFile), filepath.Join(stage, adminKeyFile)); {
	case err == nil:
		paths = append(paths, adminKeyFile)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("backup: %s: %w", adminKeyFile, err)
	}
	paths = append(paths, spilled...)
	for _, p := range paths {
		size, sum, err := hashFile(filepath.Join(stage, filepath.FromSlash(p)))
		if err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		m.Files = append(m.Files, File{Path: p, Size: size, SHA256: sum})
	}
	o.step("writing the archive")
	if err := writeFileAtomic(out, func(f *os.File) error { return writeArchive(f, m, stage) }); err != nil {
		return nil, fmt.Errorf("backup: write %s: %w", out, err)
	}
	return m, nil
}

// createS3 writes the archive to a staging directory, uploads it to
// o.Out and verifies the stored object by reading it back whole: its
// SHA-256 (recorded in its header) and every entry's.
func createS3(ctx context.Context, o Options) (*Manifest, error) {
	loc, err := ParseS3URL(o.Out)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if o.S3 == nil {
		return nil, fmt.Errorf("backup: %w", errNoS3)
	}
	if loc.Key == "" || strings.HasSuffix(loc.Key, "/") {
		return nil, fmt.Errorf("backup: %s names no object (end it with a file name)", o.Out)
	}
	stage, err := os.MkdirTemp(o.TempDir, "bulwark-backup-*")
	if err != nil {
		return nil, fmt.Errorf("backup: staging directory: %w", err)
	}
	defer os.RemoveAll(stage)
	local := o
	local.Out = filepath.Join(stage, path.Base(loc.Key))
	m, err := Create(ctx, local)
	if err != nil {
		return nil, err
	}
	o.step("uploading")
	if err := o.S3.upload(ctx, local.Out, loc); err != nil {
		return nil, fmt.Errorf("backup: upload to %s: %w", loc, err)
	}
	o.step("reading the upload back")
	got, err := VerifyS3(ctx, o.S3, loc)
	if err != nil {
		return nil, fmt.Errorf("backup: after upload: %w", err)
	}
	if !sameFiles(got, m) || !got.Created.Equal(m.Created) {
		return nil, fmt.Errorf("backup: after upload: %s holds another archive than the one written (a concurrent backup to the same key?)", loc)
	}
	return m, nil
}

// copySpill copies the usage log's segments from dir (which may not
// exist) to dst and returns their archive paths. A segment removed while
// it is being listed or copied had all its records in the database
// already, which the snapshot taken after holds.
func copySpill(dir, dst string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return nil, err
	}
	var paths []string
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, ".jsonl") {
			continue // the lock file, temporary files
		}
		switch err := copyFile(filepath.Join(dir, name), filepath.Join(dst, name)); {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, err
		default:
			paths = append(paths, spillDir+"/"+name)
		}
	}
	slices.Sort(paths)
	return paths, nil
}

// copyFile copies the file at src to a new file dst (mode 0600).
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// writeFileAtomic writes path through write: to a temporary file beside
// it, synced, then renamed over path, and the directory synced.
func writeFileAtomic(path string, write func(*os.File) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if err := write(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
