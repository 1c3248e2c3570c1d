package tenant

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/bulwark-ai/bulwark/usage"
)

// SnapshotFile is the file in the data directory that holds the last key
// set a replica loaded from a shared store, for it to start from while
// that store is unreachable.
const SnapshotFile = "keyset.snapshot"

// Source is where the key set in force came from.
type Source string

// Sources of a key set.
const (
	SourceStore    Source = "store"
	SourceSnapshot Source = "snapshot"
)

// ErrBadSnapshot is the error of LoadSnapshot for a file that is not a
// key set snapshot this binary can read: damaged, truncated, or written
// by a newer Bulwark.
var ErrBadSnapshot = errors.New("unusable key set snapshot")

// The snapshot format: one line of JSON header, then the body, whose
// SHA-256 the header holds. The version changes with any change of the
// body; a reader refuses a version it does not know.
const (
	snapshotFormat  = "bulwark-keyset"
	snapshotVersion = 1
)

type snapshotHeader struct {
	Format   string    `json:"format"`
	Version  int       `json:"version"`
	LoadedAt time.Time `json:"loaded_at"`
	SHA256   string    `json:"sha256"`
}

// snapshot is a parsed snapshot file: what a Reload got from the store,
// reduced to what the key set needs. It holds key secrets only as their
// hashes, as the store does, and no key names or prefixes.
type snapshot struct {
	LoadedAt time.Time
	Body     snapshotBody
}

type snapshotBody struct {
	Tenants []snapshotTenant `json:"tenants"`
	Keys    []snapshotKey    `json:"keys"`
	Budgets []usage.Budget   `json:"budgets"`
}

type snapshotTenant struct {
	ID       string            `json:"id"`
	Limits   Limits            `json:"limits"`
	Priority string            `json:"priority,omitempty"`
	Aliases  map[string]string `json:"aliases,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
	Tools    []string          `json:"tools,omitempty"`
}

type snapshotKey struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	// Hash is the hex SHA-256 of the secret, as the store holds it.
	Hash      string            `json:"hash"`
	Admin     bool              `json:"admin,omitempty"`
	Models    []string          `json:"models,omitempty"`
	Limits    Limits            `json:"limits"`
	Priority  string            `json:"priority,omitempty"`
	Aliases   map[string]string `json:"aliases,omitempty"`
	Tags      map[string]string `json:"tags,omitempty"`
	Tools     []string          `json:"tools,omitempty"`
	ExpiresAt *time.Time        `json:"expires_at,omitempty"`
	Revoked   bool              `json:"revoked,omitempty"`
}

// newSnapshot returns the snapshot of what a Reload loaded at loadedAt.
func newSnapshot(loadedAt time.Time, keys []Key, tenants []Tenant, budgets map[string]usage.Budget) *snapshot {
	s := &snapshot{LoadedAt: loadedAt.UTC()}
	for _, t := range tenants {
		s.Body.Tenants = append(s.Body.Tenants, snapshotTenant{ID: t.ID, Limits: t.Limits, Priority: t.Priority,
			Aliases: t.Aliases, Tags: t.Tags, Tools: t.Tools})
	}
	for _, k := range keys {
		s.Body.Keys = append(s.Body.Keys, snapshotKey{ID: k.ID, TenantID: k.TenantID, Hash: k.Hash, Admin: k.Admin,
			Models: k.Models, Limits: k.Limits, Priority: k.Priority, Aliases: k.Aliases, Tags: k.Tags,
			Tools: k.Tools, ExpiresAt: k.ExpiresAt, Revoked: k.RevokedAt != nil})
	}
	for _, b := range budgets {
		s.Body.Budgets = append(s.Body.Budgets, b)
	}
	slices.SortFunc(s.Body.Budgets, func(a, b usage.Budget) int { return cmp.Compare(a.Name(), b.Name()) })
	return s
}

// set returns the key set the snapshot holds.
func (s *snapshot) set() *keySet {
	tenants := make([]Tenant, 0, len(s.Body.Tenants))
	for _, t := range s.Body.Tenants {
		tenants = append(tenants, Tenant{ID: t.ID, Limits: t.Limits,
			Attributes: Attributes{Priority: t.Priority, Aliases: t.Aliases, Tags: t.Tags, Tools: t.Tools}})
	}
	keys := make([]Key, 0, len(s.Body.Keys))
	for _, k := range s.Body.Keys {
		key := Key{ID: k.ID, TenantID: k.TenantID, Hash: k.Hash, Admin: k.Admin, Models: k.Models, Limits: k.Limits,
			Attributes: Attributes{Priority: k.Priority, Aliases: k.Aliases, Tags: k.Tags, Tools: k.Tools}, ExpiresAt: k.ExpiresAt}
		if k.Revoked {
			key.RevokedAt = &s.LoadedAt
		}
		keys = append(keys, key)
	}
	budgets := make(map[string]usage.Budget, len(s.Body.Budgets))
	for _, b := range s.Body.Budgets {
		budgets[b.Name()] = b
	}
	return buildSet(keys, tenants, budgets, s.LoadedAt, SourceSnapshot)
}

// encode returns the file form of s.
func (s *snapshot) encode() ([]byte, error) {
	body, err := json.Marshal(s.Body)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	head, err := json.Marshal(snapshotHeader{Format: snapshotFormat, Version: snapshotVersion,
		LoadedAt: s.LoadedAt.UTC(), SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		return nil, err
	}
	return append(append(head, '\n'), body...), nil
}

// parseSnapshot parses a snapshot file. Every error wraps ErrBadSnapshot.
func parseSnapshot(b []byte) (*snapshot, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadSnapshot, fmt.Sprintf(format, args...))
	}
	head, body, ok := bytes.Cut(b, []byte{'\n'})
	if !ok {
		return nil, bad("no header line (truncated or not a snapshot)")
	}
	// The header is read leniently, so that a newer version is reported
	// as such; the body strictly.
	var h snapshotHeader
	if err := json.Unmarshal(head, &h); err != nil {
		return nil, bad("header: %v", err)
	}
	if h.Format != snapshotFormat {
		return nil, bad("format %q, want %q", h.Format, snapshotFormat)
	}
	if h.Version != snapshotVersion {
		return nil, bad("version %d; this Bulwark reads version %d", h.Version, snapshotVersion)
	}
	if h.LoadedAt.IsZero() {
		return nil, bad("header has no loaded_at")
	}
	sum := sha256.Sum256(body)
	if h.SHA256 != hex.EncodeToString(sum[:]) {
		return nil, bad("checksum mismatch (the file is damaged or truncated)")
	}
	s := &snapshot{LoadedAt: h.LoadedAt.UTC()}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s.Body); err != nil {
		return nil, bad("body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad("body: data after the end")
	}
	if err := s.Body.validate(); err != nil {
		return nil, bad("%v", err)
	}
	return s, nil
}

// validate reports the first entry of b a store could not have given.
func (b *snapshotBody) validate() error {
	tenants := make(map[string]bool, len(b.Tenants))
	for i, t := range b.Tenants {
		switch {
		case t.ID == "":
			return fmt.Errorf("tenants[%d]: empty id", i)
		case tenants[t.ID]:
			return fmt.Errorf("tenants[%d]: id %q repeated", i, t.ID)
		case !t.Limits.Valid():
			return fmt.Errorf("tenants[%d]: negative limit", i)
		}
		tenants[t.ID] = true
	}
	keys := make(map[string]bool, len(b.Keys))
	for i, k := range b.Keys {
		var h [sha256.Size]byte
		switch {
		case k.ID == "" || k.TenantID == "":
			return fmt.Errorf("keys[%d]: empty id or tenant_id", i)
		case keys[k.ID]:
			return fmt.Errorf("keys[%d]: id %q repeated", i, k.ID)
		case !decodeHash(&h, k.Hash) || hex.EncodeToString(h[:]) != k.Hash:
			return fmt.Errorf("keys[%d]: hash is not a lowercase hex SHA-256", i)
		case !k.Limits.Valid():
			return fmt.Errorf("keys[%d]: negative limit", i)
		}
		keys[k.ID] = true
	}
	budgets := make(map[string]bool, len(b.Budgets))
	for i, bu := range b.Budgets {
		if err := bu.Validate(); err != nil {
			return fmt.Errorf("budgets[%d]: %v", i, err)
		}
		if budgets[bu.Name()] {
			return fmt.Errorf("budgets[%d]: %s repeated", i, bu.Name())
		}
		budgets[bu.Name()] = true
	}
	return nil
}

// snapshotFile is where a Keyring saves its key set, and how the last
// save went. It is safe for concurrent use.
type snapshotFile struct {
	path string

	mu      sync.Mutex
	savedAt time.Time // LoadedAt of the set last saved
	body    [sha256.Size]byte
	err     error // of the last save, nil once one succeeds
}

// snapshotRewrite is how old a saved set may grow before an unchanged one
// is written again: every reload (a refresh every 30 s, every change
// notice) loads the same set most of the time, and each save costs two
// fsyncs; a start from the file then says the set is at most this much
// older than it is.
const snapshotRewrite = 5 * time.Minute

// save writes the snapshot of what a Reload loaded at loadedAt, unless a
// set loaded later was saved already (two reloads may finish out of
// order).
func (f *snapshotFile) save(loadedAt time.Time, keys []Key, tenants []Tenant, budgets map[string]usage.Budget) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if loadedAt.Before(f.savedAt) {
		return
	}
	b, err := newSnapshot(loadedAt, keys, tenants, budgets).encode()
	var body [sha256.Size]byte
	if err == nil {
		body = sha256.Sum256(b[bytes.IndexByte(b, '\n')+1:]) // the set, without its header's time
		if f.err == nil && body == f.body && loadedAt.Sub(f.savedAt) < snapshotRewrite {
			return // the file already holds this set, recently enough
		}
		err = writeFileAtomic(f.path, b)
	}
	if err != nil {
		f.err = fmt.Errorf("save key set snapshot: %w", err)
		return
	}
	f.err, f.savedAt, f.body = nil, loadedAt, body
}

// writeFileAtomic replaces path with b, mode 0600: a crash leaves the old
// file or the new one, never a part of either.
func writeFileAtomic(path string, b []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err = tmp.Write(b); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// The rename is durable once the directory is.
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

// SetSnapshot makes every successful Reload save the key set it loaded to
// path, for LoadSnapshot to start from while the store is unreachable. The
// file holds what the store gave (key secrets only as their SHA-256, no
// key names or prefixes) and is replaced atomically, with mode 0600. A
// failed save leaves the key set in force and is reported by
// SnapshotStatus. Call SetSnapshot before the first Reload.
func (k *Keyring) SetSnapshot(path string) {
	k.snap = &snapshotFile{path: path}
}

// LoadSnapshot puts in force the key set a Reload saved at path, unless
// the set in force was loaded later. It is for starting while the store
// is unreachable: the next successful Reload replaces the set. It returns
// when the store gave the snapshot's set; a file that is not a snapshot
// this binary can read is an error wrapping ErrBadSnapshot, and a missing
// one wraps fs.ErrNotExist.
func (k *Keyring) LoadSnapshot(path string) (loadedAt time.Time, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, fmt.Errorf("load key set snapshot: %w", err)
	}
	s, err := parseSnapshot(b)
	if err != nil {
		return time.Time{}, fmt.Errorf("load key set snapshot %s: %w", path, err)
	}
	set := s.set()
	for {
		cur := k.set.Load()
		if cur.loadedAt.After(set.loadedAt) || k.set.CompareAndSwap(cur, set) {
			return s.LoadedAt, nil
		}
	}
}

// SnapshotStatus is what Keyring.SnapshotStatus reports.
type SnapshotStatus struct {
	// Source is where the key set in force came from; "" before one is
	// loaded.
	Source Source
	// LoadedAt is when the store gave the key set in force, also when it
	// was loaded from a snapshot: its age is how stale it may be.
	LoadedAt time.Time
	// SavedAt is when the store gave the set last saved by SetSnapshot's
	// saves (zero: none yet), and Err the error of the last save, nil
	// once one succeeds.
	SavedAt time.Time
	Err     error
}

// SnapshotStatus reports where the key set in force came from and how
// saving it goes.
func (k *Keyring) SnapshotStatus() SnapshotStatus {
	set := k.set.Load()
	st := SnapshotStatus{Source: set.source, LoadedAt: set.loadedAt}
	if k.snap != nil {
		k.snap.mu.Lock()
		st.SavedAt, st.Err = k.snap.savedAt, k.snap.err
		k.snap.mu.Unlock()
	}
	return st
}
