package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/bulwark-ai/bulwark/sqlite"
)

// ErrNotEmpty is returned by Restore for a data directory that holds
// anything, unless forced.
var ErrNotEmpty = errors.New("data directory is not empty")

// ErrInUse is returned by Restore for a data directory a running server
// holds, forced or not.
var ErrInUse = errors.New("data directory is in use by a running bulwark: stop it first")

// Verify reads the archive at path whole and returns its manifest if
// every check passes (see readArchive); an error wrapping ErrCorrupt
// otherwise. It also refuses an archive this binary cannot restore: a
// newer format or schema version.
func Verify(path string) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("verify backup: %w", err)
	}
	defer f.Close()
	return verify(f, path)
}

// VerifyS3 is Verify for the archive at loc in object storage, read
// once, as a stream.
func VerifyS3(ctx context.Context, c *S3, loc S3Location) (*Manifest, error) {
	body, _, err := c.open(ctx, loc)
	if err != nil {
		return nil, fmt.Errorf("verify backup %s: %w", loc, err)
	}
	defer body.Close()
	return verify(body, loc.String())
}

func verify(r io.Reader, name string) (*Manifest, error) {
	m, err := readArchive(r, nil)
	if err != nil {
		return nil, fmt.Errorf("verify backup %s: %w", name, err)
	}
	latest, err := sqlite.LatestSchemaVersion()
	if err != nil {
		return nil, fmt.Errorf("verify backup: %w", err)
	}
	if m.SchemaVersion > latest {
		return nil, fmt.Errorf("verify backup %s: its database is at schema version %d, newer than this binary's %d: restore it with a newer bulwark", name, m.SchemaVersion, latest)
	}
	return m, nil
}

// RestoreOptions describe one restore.
type RestoreOptions struct {
	// Archive is the archive file to restore, or an s3://bucket/key URL
	// of one in object storage: downloaded beside DataDir first (and
	// removed after).
	Archive string
	// S3 is the object storage client an s3:// Archive needs.
	S3 *S3
	// DataDir is the data directory to rebuild. It must not exist or be
	// empty, unless Force.
	DataDir string
	// Force moves a non-empty DataDir aside (to MovedAside) instead of
	// refusing it. No server may be running on it.
	Force bool
	// Now is the clock (default time.Now); it names the moved-aside
	// directory.
	Now func() time.Time
	// Progress, when set, is told each step as it starts, for a command
	// line to show.
	Progress func(step string)
}

func (o RestoreOptions) step(s string) {
	if o.Progress != nil {
		o.Progress(s)
	}
}

// Restored is what Restore did.
type Restored struct {
	Manifest *Manifest
	// MovedAside is where the data directory that was there went, when
	// Force moved one; "" otherwise.
	MovedAside string
}

// Restore verifies the archive whole, then rebuilds o.DataDir from it:
// extracted into a staging directory beside it, checked, and renamed into
// place. A corrupt or truncated archive, or a non-empty data directory
// without Force, is refused before anything is written.
func Restore(ctx context.Context, o RestoreOptions) (*Restored, error) {
	if o.Archive == "" || o.DataDir == "" {
		return nil, errors.New("restore: an archive and a data directory are needed")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if IsS3(o.Archive) {
		return restoreS3(ctx, o, dataDir)
	}
	o.step("verifying the archive")
	m, err := Verify(o.Archive)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	res := &Restored{Manifest: m}
	res.MovedAside, err = stageAndPlace(dataDir, o.Force, o.Now, func(stage string) error {
		o.step("unpacking")
		if err := extract(o.Archive, stage, m); err != nil {
			return err
		}
		v, err := sqlite.Inspect(ctx, filepath.Join(stage, dbFile))
		if err != nil {
			return err
		}
		if v != m.SchemaVersion {
			return fmt.Errorf("%w: the database is at schema version %d, the manifest says %d", ErrCorrupt, v, m.SchemaVersion)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// stageAndPlace rebuilds dataDir: it refuses a target that is not empty
// (unless force), lets fill write the new directory in a staging
// directory beside it, syncs that to disk and moves it into place (the
// old directory moved aside, whose name it returns). A fill or a placing
// that fails leaves the target as it was and removes the staging
// directory.
func stageAndPlace(dataDir string, force bool, now func() time.Time, fill func(stage string) error) (movedAside string, err error) {
	if err := checkTarget(dataDir, force); err != nil {
		return "", err
	}
	parent := filepath.Dir(dataDir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	stage, err := os.MkdirTemp(parent, "."+filepath.Base(dataDir)+".restore-*")
	if err != nil {
		return "", fmt.Errorf("restore: staging directory: %w", err)
	}
	placed := false
	defer func() {
		if !placed {
			_ = os.RemoveAll(stage)
		}
	}()
	if err := fill(stage); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	if err := syncTree(stage); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	if movedAside, err = place(stage, dataDir, now); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	placed = true
	return movedAside, nil
}

// checkTarget refuses a data directory that is not empty, unless force,
// and one a running server holds.
func checkTarget(dataDir string, force bool) error {
	exists, empty, err := dirState(dataDir)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if exists && !empty && !force {
		return fmt.Errorf("restore: %s: %w (use --force to move it aside)", dataDir, ErrNotEmpty)
	}
	if exists && !empty {
		busy, err := inUse(dataDir)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		if busy {
			return fmt.Errorf("restore: %s: %w", dataDir, ErrInUse)
		}
	}
	return nil
}

// place renames the complete staging directory stage to dataDir, moving
// a non-empty dataDir aside (to the returned path) and replacing an
// empty one, and makes the rename durable. On an error stage is left
// where it was and dataDir as it was.
func place(stage, dataDir string, now func() time.Time) (movedAside string, err error) {
	exists, empty, err := dirState(dataDir)
	if err != nil {
		return "", err
	}
	switch {
	case exists && empty:
		if err := os.Remove(dataDir); err != nil {
			return "", err
		}
	case exists:
		movedAside = fmt.Sprintf("%s.pre-restore-%s", dataDir, now().UTC().Format("20060102T150405Z"))
		if err := os.Rename(dataDir, movedAside); err != nil {
			return "", fmt.Errorf("move %s aside: %w", dataDir, err)
		}
	}
	if err := os.Rename(stage, dataDir); err != nil {
		if movedAside != "" {
			_ = os.Rename(movedAside, dataDir)
		}
		return "", err
	}
	return movedAside, syncDir(filepath.Dir(dataDir))
}

// restoreS3 downloads the archive at o.Archive beside dataDir and
// restores from the copy, which it then removes.
func restoreS3(ctx context.Context, o RestoreOptions, dataDir string) (*Restored, error) {
	loc, err := ParseS3URL(o.Archive)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if o.S3 == nil {
		return nil, fmt.Errorf("restore: %w", errNoS3)
	}
	parent := filepath.Dir(dataDir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	dl, err := os.MkdirTemp(parent, "."+filepath.Base(dataDir)+".download-*")
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(dl)
	local := filepath.Join(dl, "archive.tar.gz")
	o.step("downloading")
	if err := o.S3.download(ctx, loc, local); err != nil {
		return nil, fmt.Errorf("restore: download %s: %w", loc, err)
	}
	o.Archive = local
	return Restore(ctx, o)
}

// dirState reports whether dir exists and, if so, whether it is empty.
func dirState(dir string) (exists, empty bool, err error) {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, true, nil
	}
	if err != nil {
		return false, false, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return false, false, err
	} else if !st.IsDir() {
		return true, false, fmt.Errorf("%s is not a directory", dir)
	}
	names, err := f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, true, nil
	}
	return true, len(names) == 0, err
}

// extract writes the archive's files into dir, checking them against m
// again (the file may have changed since it was verified).
func extract(archive, dir string, m *Manifest) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	got, err := readArchive(f, func(e File, content io.Reader) error {
		dst := filepath.Join(dir, filepath.FromSlash(e.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, content); err != nil {
			_ = out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		return err
	}
	if !sameFiles(got, m) {
		return fmt.Errorf("%w: the archive changed while it was being restored", ErrCorrupt)
	}
	return nil
}

func sameFiles(a, b *Manifest) bool {
	if len(a.Files) != len(b.Files) {
		return false
	}
	for i := range a.Files {
		if a.Files[i] != b.Files[i] {
			return false
		}
	}
	return true
}

// syncTree syncs every file and directory under dir, so that the rename
// into place publishes durable content.
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
}
