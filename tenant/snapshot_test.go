package tenant_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/tenant/tenanttest"
	"github.com/bulwark-ai/bulwark/usage"
)

// snapStore is a memory store that also holds budgets, and can be taken
// down.
type snapStore struct {
	*tenanttest.Memory
	budgets []usage.Budget
	down    bool
}

var errDown = errors.New("store unreachable")

func (s *snapStore) Keys(ctx context.Context, tenantID string) ([]tenant.Key, error) {
	if s.down {
		return nil, errDown
	}
	return s.Memory.Keys(ctx, tenantID)
}

func (s *snapStore) Budgets(context.Context) ([]usage.Budget, error) {
	if s.down {
		return nil, errDown
	}
	return s.budgets, nil
}

// snapFixture is a store holding keys of every kind, and their secrets.
type snapFixture struct {
	store   *snapStore
	secrets map[string]string // key name → secret
}

func newSnapFixture(t *testing.T) snapFixture {
	t.Helper()
	ctx := t.Context()
	s := &snapStore{Memory: tenanttest.NewMemory()}
	now := time.Now().UTC()
	if err := s.CreateTenant(ctx, tenant.Tenant{ID: "acme", Name: "Acme", CreatedAt: now,
		Limits:     tenant.Limits{RequestsPerMinute: 100, Concurrent: 4},
		Attributes: tenant.Attributes{Priority: "batch", Aliases: map[string]string{"chat": "big"}, Tags: map[string]string{"team": "x"}}}); err != nil {
		t.Fatal(err)
	}
	f := snapFixture{store: s, secrets: map[string]string{}}
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	for _, k := range []tenant.Key{
		{Name: "plain"},
		{Name: "admin", Admin: true},
		{Name: "narrow", Models: []string{"chat", "embed"}, Limits: tenant.Limits{TokensPerMinute: 1000},
			Attributes: tenant.Attributes{Priority: "critical", Aliases: map[string]string{"chat": "small"}, Tags: map[string]string{"env": "prod"}}},
		{Name: "expiring", ExpiresAt: &future},
		{Name: "expired", ExpiresAt: &past},
		{Name: "revoked"},
	} {
		secret, prefix, hash, err := tenant.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		k.ID, k.TenantID, k.Prefix, k.Hash, k.CreatedAt = tenant.NewID("key"), "acme", prefix, hash, now
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		if k.Name == "revoked" {
			if err := s.RevokeKey(ctx, k.ID, now); err != nil {
				t.Fatal(err)
			}
		}
		if k.Name == "narrow" {
			s.budgets = append(s.budgets, usage.Budget{Kind: usage.BudgetKey, ID: k.ID, TenantID: "acme",
				Period: usage.PeriodMonth, Amount: 5e9, Hard: true, UpdatedAt: now})
		}
		f.secrets[k.Name] = secret
	}
	s.budgets = append(s.budgets, usage.Budget{Kind: usage.BudgetTenant, ID: "acme", TenantID: "acme",
		Period: usage.PeriodDay, Amount: 1e9, UpdatedAt: now})
	return f
}

// A key set saved by one Keyring and loaded by another, whose store is
// down, authenticates every secret exactly as the first.
func TestSnapshotRoundTrip(t *testing.T) {
	f := newSnapFixture(t)
	path := filepath.Join(t.TempDir(), tenant.SnapshotFile)
	from := tenant.NewKeyring(f.store)
	from.SetSnapshot(path)
	if err := from.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := from.SnapshotStatus()
	if st.Source != tenant.SourceStore || st.Err != nil || st.SavedAt.IsZero() || !st.SavedAt.Equal(st.LoadedAt) {
		t.Fatalf("after Reload, SnapshotStatus = %+v; want source store, saved at the load", st)
	}

	f.store.down = true
	to := tenant.NewKeyring(f.store)
	if err := to.Reload(t.Context()); err == nil {
		t.Fatal("Reload succeeded with the store down")
	}
	loadedAt, err := to.LoadSnapshot(path)
	if err != nil {
		t.Fatalf("LoadSnapshot: %v", err)
	}
	if !loadedAt.Equal(st.LoadedAt) {
		t.Errorf("LoadSnapshot says loaded at %v; the set was loaded at %v", loadedAt, st.LoadedAt)
	}
	if got := to.SnapshotStatus(); got.Source != tenant.SourceSnapshot || !got.LoadedAt.Equal(st.LoadedAt) {
		t.Errorf("after LoadSnapshot, SnapshotStatus = %+v; want source snapshot, loaded at %v", got, st.LoadedAt)
	}
	if loaded, n, _ := to.Status(); loaded.IsZero() || n != len(f.secrets) {
		t.Errorf("after LoadSnapshot, Status = %v, %d keys; want %d keys", loaded, n, len(f.secrets))
	}
	for name, secret := range f.secrets {
		want, wantErr := from.Authenticate(secret)
		got, gotErr := to.Authenticate(secret)
		if !errors.Is(gotErr, wantErr) || !reflect.DeepEqual(got, want) {
			t.Errorf("key %s: from the snapshot %+v, %v; from the store %+v, %v", name, got, gotErr, want, wantErr)
		}
	}
	if p, _ := to.Authenticate(f.secrets["narrow"]); p.KeyBudget.IsZero() || p.TenantBudget.IsZero() || p.Priority != "critical" {
		t.Errorf("the snapshot lost the budgets or attributes: %+v", p)
	}

	// The store back, a Reload replaces the snapshot's set.
	f.store.down = false
	if err := to.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := to.SnapshotStatus(); got.Source != tenant.SourceStore {
		t.Errorf("after Reload, source = %q; want store", got.Source)
	}
}

// The snapshot holds no secret in clear, only the hashes the store holds,
// and no other process user may read it.
func TestSnapshotFileHoldsNoSecret(t *testing.T) {
	f := newSnapFixture(t)
	dir := t.TempDir()
	path := filepath.Join(dir, tenant.SnapshotFile)
	k := tenant.NewKeyring(f.store)
	k.SetSnapshot(path)
	for range 2 { // the second save replaces the first
		if err := k.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("snapshot mode %v; want 0600", fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, secret := range f.secrets {
		if bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte(secret[:10])) {
			t.Errorf("the snapshot holds key %s's secret or its prefix", name)
		}
		if !bytes.Contains(b, []byte(tenant.HashSecret(secret))) {
			t.Errorf("the snapshot lacks key %s's hash", name)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("the data directory holds %d files after two saves; want the snapshot only", len(entries))
	}
}

// A damaged, truncated or foreign file is refused with a clear error, and
// puts no key in force.
func TestLoadSnapshotRefusesDamage(t *testing.T) {
	f := newSnapFixture(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	k := tenant.NewKeyring(f.store)
	k.SetSnapshot(good)
	if err := k.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	valid, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := bytes.Cut(valid, []byte{'\n'})
	flipped := bytes.Clone(valid)
	flipped[len(flipped)-10] ^= 0x01
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"empty":     {nil, "no header line"},
		"truncated": {valid[:len(valid)-20], "checksum mismatch"},
		"flipped":   {flipped, "checksum mismatch"},
		"garbage":   {[]byte("not json\n{}"), "header"},
		"newer":     {append(bytes.Replace(head, []byte(`"version":1`), []byte(`"version":2`), 1), append([]byte{'\n'}, body...)...), "version 2"},
		"foreign":   {append(bytes.Replace(head, []byte(`bulwark-keyset`), []byte(`something-else`), 1), append([]byte{'\n'}, body...)...), "format"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			kr := tenant.NewKeyring(f.store)
			_, err := kr.LoadSnapshot(path)
			if !errors.Is(err, tenant.ErrBadSnapshot) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadSnapshot = %v; want ErrBadSnapshot saying %q", err, tc.want)
			}
			if _, err := kr.Authenticate(f.secrets["plain"]); !errors.Is(err, tenant.ErrUnknownKey) {
				t.Errorf("a key authenticates after a refused snapshot: %v", err)
			}
		})
	}
	if _, err := tenant.NewKeyring(f.store).LoadSnapshot(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadSnapshot of a missing file = %v; want fs.ErrNotExist", err)
	}
}

// A snapshot that cannot be saved leaves the loaded set in force and is
// reported.
func TestSnapshotSaveFailureIsReported(t *testing.T) {
	f := newSnapFixture(t)
	k := tenant.NewKeyring(f.store)
	k.SetSnapshot(filepath.Join(t.TempDir(), "no-such-dir", tenant.SnapshotFile))
	if err := k.Reload(t.Context()); err != nil {
		t.Fatalf("Reload failed because the snapshot could not be saved: %v", err)
	}
	if _, err := k.Authenticate(f.secrets["plain"]); err != nil {
		t.Errorf("Authenticate: %v", err)
	}
	if st := k.SnapshotStatus(); st.Err == nil || !st.SavedAt.IsZero() {
		t.Errorf("SnapshotStatus = %+v; want the save error", st)
	}
}

// A reload that loads the set already saved does not write the file
// again (each save costs two fsyncs, and reloads come every 30 s); a
// changed set is saved at once.
func TestSnapshotIsRewrittenOnlyWhenTheSetChanged(t *testing.T) {
	f := newSnapFixture(t)
	path := filepath.Join(t.TempDir(), tenant.SnapshotFile)
	k := tenant.NewKeyring(f.store)
	k.SetSnapshot(path)
	stat := func() os.FileInfo {
		t.Helper()
		if err := k.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	first := stat()
	if again := stat(); !os.SameFile(first, again) {
		t.Error("an unchanged key set was written again")
	}
	if err := f.store.CreateTenant(t.Context(), tenant.Tenant{ID: "newco", CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	if changed := stat(); os.SameFile(first, changed) {
		t.Error("a changed key set was not saved")
	}
}
