package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Scheduled archives are named bulwark-<UTC time>.tar.gz, so that their
// names sort by age; Prune touches no other file.
const (
	archivePrefix = "bulwark-"
	archiveSuffix = ".tar.gz"
	archiveTime   = "20060102T150405.000Z"
)

// ArchiveName is the name of the scheduled archive made at t.
func ArchiveName(t time.Time) string {
	return archivePrefix + t.UTC().Format(archiveTime) + archiveSuffix
}

// archiveTimeOf parses a name ArchiveName made; ok is false for any other.
func archiveTimeOf(name string) (time.Time, bool) {
	s, ok := strings.CutPrefix(name, archivePrefix)
	if !ok {
		return time.Time{}, false
	}
	if s, ok = strings.CutSuffix(s, archiveSuffix); !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(archiveTime, s)
	return t, err == nil
}

// Target is where scheduled backups go: a local directory or a prefix in
// object storage (s3://bucket/prefix/). Its methods are safe for
// concurrent use, but two backups to one target at the same millisecond
// would write one name.
type Target struct {
	dir string     // a local directory; "" for object storage
	loc S3Location // the prefix, its key "" or ending in "/"
	s3  *S3
}

// Archive is a scheduled archive in a target.
type Archive struct {
	// Name is the archive's file name (ArchiveName), Location its path
	// or s3:// URL.
	Name     string
	Location string
	Created  time.Time
}

// NewTarget returns the target to, a directory or an s3:// prefix (c is
// the client an s3:// target needs; it may be nil otherwise).
func NewTarget(to string, c *S3) (*Target, error) {
	if !IsS3(to) {
		if to == "" {
			return nil, errors.New("backup target: empty")
		}
		return &Target{dir: to}, nil
	}
	loc, err := ParseS3URL(to)
	if err != nil {
		return nil, fmt.Errorf("backup target: %w", err)
	}
	if c == nil {
		return nil, fmt.Errorf("backup target: %w", errNoS3)
	}
	if loc.Key != "" && !strings.HasSuffix(loc.Key, "/") {
		loc.Key += "/"
	}
	return &Target{loc: loc, s3: c}, nil
}

// String returns the target as it was given, a prefix ending in "/".
func (t *Target) String() string {
	if t.s3 == nil {
		return t.dir
	}
	return t.loc.String()
}

// Backup writes an archive of o.DataDir, named for the time it starts,
// to the target (o.Out and o.S3 are set here) and returns where.
func (t *Target) Backup(ctx context.Context, o Options) (Archive, *Manifest, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	now := o.Now().UTC()
	o.Now = func() time.Time { return now }
	a := Archive{Name: ArchiveName(now), Created: now.Truncate(time.Millisecond)}
	if t.s3 == nil {
		if err := os.MkdirAll(t.dir, 0o700); err != nil {
			return Archive{}, nil, fmt.Errorf("backup: %w", err)
		}
		a.Location = filepath.Join(t.dir, a.Name)
	} else {
		a.Location = S3Location{Bucket: t.loc.Bucket, Key: t.loc.Key + a.Name}.String()
	}
	o.Out, o.S3 = a.Location, t.s3
	m, err := Create(ctx, o)
	if err != nil {
		return Archive{}, nil, err
	}
	return a, m, nil
}

// List returns the scheduled archives in the target, oldest first.
func (t *Target) List(ctx context.Context) ([]Archive, error) {
	var out []Archive
	if t.s3 == nil {
		ents, err := os.ReadDir(t.dir)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list backups: %w", err)
		}
		for _, e := range ents {
			if c, ok := archiveTimeOf(e.Name()); ok && e.Type().IsRegular() {
				out = append(out, Archive{Name: e.Name(), Location: filepath.Join(t.dir, e.Name()), Created: c})
			}
		}
	} else {
		objs, err := t.s3.list(ctx, t.loc.Bucket, t.loc.Key)
		if err != nil {
			return nil, fmt.Errorf("list backups in %s: %w", t.loc, err)
		}
		for _, o := range objs {
			name := path.Base(o.Key)
			if c, ok := archiveTimeOf(name); ok && o.Key == t.loc.Key+name {
				out = append(out, Archive{Name: name, Location: S3Location{Bucket: t.loc.Bucket, Key: o.Key}.String(), Created: c})
			}
		}
	}
	slices.SortFunc(out, func(a, b Archive) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// Prune deletes the scheduled archives of the target but the newest keep
// (at least 1) and returns those it deleted. Files of other names are
// left alone.
func (t *Target) Prune(ctx context.Context, keep int) ([]Archive, error) {
	keep = max(keep, 1)
	all, err := t.List(ctx)
	if err != nil {
		return nil, err
	}
	if len(all) <= keep {
		return nil, nil
	}
	var removed []Archive
	for _, a := range all[:len(all)-keep] {
		var err error
		if t.s3 == nil {
			err = os.Remove(a.Location)
		} else {
			loc, _ := ParseS3URL(a.Location)
			err = t.s3.remove(ctx, loc)
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, fmt.Errorf("prune backup %s: %w", a.Location, err)
		}
		removed = append(removed, a)
	}
	return removed, nil
}
