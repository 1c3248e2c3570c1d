package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bulwark-ai/bulwark/backup"
	"github.com/bulwark-ai/bulwark/config"
)

const backupUsage = `usage: bulwark backup [--data-dir DIR] --out FILE|s3://BUCKET/KEY
       bulwark backup verify FILE|s3://BUCKET/KEY

An s3:// archive is in S3-compatible object storage; the endpoint and
credentials come from the environment: BULWARK_S3_ENDPOINT or
AWS_ENDPOINT_URL (empty: AWS), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_REGION or BULWARK_S3_REGION, BULWARK_S3_PATH_STYLE (default true
with an endpoint).
`

const restoreUsage = `usage: bulwark restore --archive FILE|s3://BUCKET/KEY [--data-dir DIR] [--force]
       bulwark restore --replica s3://BUCKET/PREFIX/ [--at TIME] [--data-dir DIR] [--force]

--replica restores the database from the continuous replica that
backup.replicate writes (object storage settings as for bulwark backup).
`

// s3Client returns the object storage client for loc, configured from
// the environment, or nil when loc is a local path.
func s3Client(ctx context.Context, loc string) (*backup.S3, error) {
	if !backup.IsS3(loc) {
		return nil, nil
	}
	c, err := backup.S3ConfigFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	return backup.NewS3(ctx, c)
}

// backupCmd writes an archive of a data directory, which a server may be
// serving from, or verifies one.
func backupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "verify" {
		fs := newFlagSet("backup verify", backupUsage, stderr)
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			fs.Usage()
			return errUsage
		}
		act := startActivity(stderr, "verifying "+fs.Arg(0))
		m, err := verifyArchive(ctx, fs.Arg(0))
		act.Done()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "ok: %s, %d files, schema version %d, made %s by %s\n",
			fs.Arg(0), len(m.Files), m.SchemaVersion, m.Created.Format("2006-01-02T15:04:05Z"), m.Bulwark)
		return nil
	}
	fs := newFlagSet("backup", backupUsage, stderr)
	dataDir := fs.String("data-dir", config.DefaultDataDir, "data directory to back up (a server may be running on it)")
	out := fs.String("out", "", "archive file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	client, err := s3Client(ctx, *out)
	if err != nil {
		return err
	}
	act := startActivity(stderr, "backup")
	m, err := backup.Create(ctx, backup.Options{DataDir: *dataDir, Out: *out, S3: client, Version: versionString(), Progress: act.Step})
	act.Done()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d files, schema version %d\n", *out, len(m.Files), m.SchemaVersion)
	return nil
}

// verifyArchive verifies the archive at a path or an s3:// URL.
func verifyArchive(ctx context.Context, archive string) (*backup.Manifest, error) {
	if !backup.IsS3(archive) {
		return backup.Verify(archive)
	}
	loc, err := backup.ParseS3URL(archive)
	if err != nil {
		return nil, err
	}
	client, err := s3Client(ctx, archive)
	if err != nil {
		return nil, err
	}
	return backup.VerifyS3(ctx, client, loc)
}

// restoreCmd rebuilds a data directory from an archive.
func restoreCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("restore", restoreUsage, stderr)
	archive := fs.String("archive", "", "archive file written by bulwark backup")
	replica := fs.String("replica", "", "s3://bucket/prefix/ that backup.replicate streams the database to")
	at := fs.String("at", "", "with --replica: restore the database as it was at this time (RFC 3339), not its latest state")
	dataDir := fs.String("data-dir", config.DefaultDataDir, "data directory to rebuild (must not exist or be empty)")
	force := fs.Bool("force", false, "move a non-empty data directory aside instead of refusing (stop its server first)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*archive == "") == (*replica == "") || (*at != "" && *replica == "") || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	if *replica != "" {
		return restoreReplica(ctx, *replica, *at, *dataDir, *force, stdout, stderr)
	}
	client, err := s3Client(ctx, *archive)
	if err != nil {
		return err
	}
	act := startActivity(stderr, "restore")
	r, err := backup.Restore(ctx, backup.RestoreOptions{Archive: *archive, S3: client, DataDir: *dataDir, Force: *force, Progress: act.Step})
	act.Done()
	if err != nil {
		return err
	}
	if r.MovedAside != "" {
		fmt.Fprintf(stdout, "moved the previous data directory to %s\n", r.MovedAside)
	}
	fmt.Fprintf(stdout, "restored %s from %s (made %s by %s); vector indexes rebuild on first search\n",
		*dataDir, *archive, r.Manifest.Created.Format("2006-01-02T15:04:05Z"), r.Manifest.Bulwark)
	return nil
}

// restoreReplica rebuilds a data directory's database from a continuous
// replica.
func restoreReplica(ctx context.Context, replica, at, dataDir string, force bool, stdout, stderr io.Writer) error {
	var when time.Time
	if at != "" {
		var err error
		if when, err = time.Parse(time.RFC3339, at); err != nil {
			return fmt.Errorf("--at: %q is not an RFC 3339 time (2026-12-07T03:00:00Z)", at)
		}
	}
	sc, err := backup.S3ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	act := startActivity(stderr, "restoring from the replica")
	r, err := backup.RestoreReplica(ctx, backup.RestoreReplicaOptions{From: replica, S3: sc, DataDir: dataDir, Force: force, At: when})
	act.Done()
	if err != nil {
		return err
	}
	if r.MovedAside != "" {
		fmt.Fprintf(stdout, "moved the previous data directory to %s\n", r.MovedAside)
	}
	fmt.Fprintf(stdout, "restored %s from the replica %s (schema version %d); vector indexes rebuild on first search; "+
		"admin.key is not replicated, but every admin key in the database still authenticates\n", dataDir, replica, r.SchemaVersion)
	return nil
}
