package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/bulwark-ai/bulwark/backup"
	"github.com/bulwark-ai/bulwark/config"
)

const backupUsage = `usage: bulwark backup [--data-dir DIR] --out FILE
       bulwark backup verify FILE
`

const restoreUsage = `usage: bulwark restore --archive FILE [--data-dir DIR] [--force]
`

// backupCmd writes an archive of a data directory, which a server may be
// serving from, or verifies one.
func backupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "verify" {
		if len(args) != 2 {
			fmt.Fprint(stderr, backupUsage)
			return errUsage
		}
		m, err := backup.Verify(args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "ok: %s, %d files, schema version %d, made %s by %s\n",
			args[1], len(m.Files), m.SchemaVersion, m.Created.Format("2006-01-02T15:04:05Z"), m.Bulwark)
		return nil
	}
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, backupUsage); fs.PrintDefaults() }
	dataDir := fs.String("data-dir", config.DefaultDataDir, "data directory to back up (a server may be running on it)")
	out := fs.String("out", "", "archive file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	m, err := backup.Create(ctx, backup.Options{DataDir: *dataDir, Out: *out, Version: versionString()})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d files, schema version %d\n", *out, len(m.Files), m.SchemaVersion)
	return nil
}

// restoreCmd rebuilds a data directory from an archive.
func restoreCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, restoreUsage); fs.PrintDefaults() }
	archive := fs.String("archive", "", "archive file written by bulwark backup")
	dataDir := fs.String("data-dir", config.DefaultDataDir, "data directory to rebuild (must not exist or be empty)")
	force := fs.Bool("force", false, "move a non-empty data directory aside instead of refusing (stop its server first)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *archive == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	r, err := backup.Restore(ctx, backup.RestoreOptions{Archive: *archive, DataDir: *dataDir, Force: *force})
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
