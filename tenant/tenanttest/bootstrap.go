package tenanttest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/tenant"
)

func testBootstrap(t *testing.T, newStore func(t *testing.T) tenant.Store) {
	t.Run("Generate", func(t *testing.T) { testBootstrapGenerate(t, newStore(t)) })
	t.Run("EnvKey", func(t *testing.T) { testBootstrapEnvKey(t, newStore(t)) })
	t.Run("BadEnvKey", func(t *testing.T) { testBootstrapBadEnvKey(t, newStore(t)) })
	t.Run("FileWithoutKey", func(t *testing.T) { testBootstrapFileWithoutKey(t, newStore(t)) })
	t.Run("RevokedFileKey", func(t *testing.T) { testBootstrapRevokedFileKey(t, newStore(t)) })
}

// authenticateAdmin checks that secret is an admin key of the default
// tenant in s.
func authenticateAdmin(t *testing.T, s tenant.Store, secret string) tenant.Principal {
	t.Helper()
	kr := tenant.NewKeyring(s)
	if err := kr.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	p, err := kr.Authenticate(secret)
	if err != nil {
		t.Fatalf("Authenticate(bootstrap secret): %v", err)
	}
	if !p.Admin || p.TenantID != tenant.DefaultTenant {
		t.Fatalf("bootstrap key = %+v; want an admin key of tenant %q", p, tenant.DefaultTenant)
	}
	return p
}

func countKeys(t *testing.T, s tenant.Store) int {
	t.Helper()
	keys, err := s.Keys(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.HasPrefix(k.Hash, tenant.SecretPrefix) || len(k.Hash) != 64 {
			t.Fatalf("key %s stores %q as its hash", k.ID, k.Hash)
		}
	}
	return len(keys)
}

func testBootstrapGenerate(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "data")
	secret, created, err := tenant.Bootstrap(ctx, s, dir, "")
	if err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	if !created || !strings.HasPrefix(secret, tenant.SecretPrefix) || len(secret) != 46 {
		t.Fatalf("Bootstrap = %q, %v; want a new bk- secret", secret, created)
	}
	if _, err := s.Tenant(ctx, tenant.DefaultTenant); err != nil {
		t.Errorf("default tenant: %v", err)
	}
	path := filepath.Join(dir, tenant.AdminKeyFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v; want 0600", path, fi.Mode().Perm())
	}
	if di, err := os.Stat(dir); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("data directory: %v, %v; want mode 0700", di.Mode().Perm(), err)
	}
	b, _ := os.ReadFile(path)
	if strings.TrimSpace(string(b)) != secret {
		t.Errorf("%s holds %q; want the secret", path, b)
	}
	p := authenticateAdmin(t, s, secret)
	keys, _ := s.Keys(ctx, "")
	if keys[0].Prefix != secret[:10] {
		t.Errorf("prefix = %q; want %q", keys[0].Prefix, secret[:10])
	}

	// A restart changes nothing and shows nothing.
	for range 2 {
		again, created, err := tenant.Bootstrap(ctx, s, dir, "")
		if err != nil || created || again != "" {
			t.Fatalf("Bootstrap again = %q, %v, %v; want nothing new", again, created, err)
		}
	}
	if n := countKeys(t, s); n != 1 {
		t.Errorf("%d keys after restarts; want 1", n)
	}
	if p2 := authenticateAdmin(t, s, secret); p2.KeyID != p.KeyID {
		t.Errorf("the admin key changed across restarts")
	}
}

func testBootstrapEnvKey(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	dir := t.TempDir()
	const envKey = "operator-chosen-admin-key-0123456789"
	for range 2 {
		secret, created, err := tenant.Bootstrap(ctx, s, dir, envKey)
		if err != nil || created || secret != "" {
			t.Fatalf("Bootstrap(env key) = %q, %v, %v; want no secret shown", secret, created, err)
		}
	}
	if n := countKeys(t, s); n != 1 {
		t.Errorf("%d keys; want 1", n)
	}
	authenticateAdmin(t, s, envKey)
	keys, _ := s.Keys(ctx, "")
	if k := keys[0]; k.Name != "bootstrap" || !k.Admin {
		t.Errorf("env key stored as %+v; want an admin key named bootstrap", k)
	}
	// The stored prefix of an operator's key reveals at most a quarter of it.
	if p := keys[0].Prefix; len(p) > len(envKey)/4 || !strings.HasPrefix(envKey, p) {
		t.Errorf("env key stored with prefix %q", p)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("the data directory holds %v; the env key must not be written anywhere", entries)
	}

	// Revoking the env key makes the next start fail loudly instead of
	// running without a usable admin key.
	if err := s.RevokeKey(ctx, keys[0].ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tenant.Bootstrap(ctx, s, dir, envKey); !errors.Is(err, tenant.ErrRevokedKey) {
		t.Errorf("Bootstrap(revoked env key) = %v; want ErrRevokedKey", err)
	}
}

func testBootstrapBadEnvKey(t *testing.T, s tenant.Store) {
	for _, key := range []string{"short", "has a space in the middle", "tab\tseparated-key-value", strings.Repeat("k", 300)} {
		if _, _, err := tenant.Bootstrap(t.Context(), s, t.TempDir(), key); err == nil {
			t.Errorf("Bootstrap(env key %.20q) succeeded; want an error", key)
		}
	}
	if n := countKeys(t, s); n != 0 {
		t.Errorf("%d keys stored from bad env keys", n)
	}
}

func testBootstrapFileWithoutKey(t *testing.T, s tenant.Store) {
	// The database was reset but admin.key survived: its key is stored
	// again rather than a new one generated.
	dir := t.TempDir()
	secret, _, _, _ := tenant.NewSecret()
	path := filepath.Join(dir, tenant.AdminKeyFile)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, created, err := tenant.Bootstrap(t.Context(), s, dir, "")
	if err != nil || created || got != "" {
		t.Fatalf("Bootstrap = %q, %v, %v; want the file's key stored, nothing shown", got, created, err)
	}
	authenticateAdmin(t, s, secret)
	if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != secret {
		t.Errorf("admin.key was changed")
	}
	if n := countKeys(t, s); n != 1 {
		t.Errorf("%d keys; want 1", n)
	}
}

func testBootstrapRevokedFileKey(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	dir := t.TempDir()
	old, _, err := tenant.Bootstrap(ctx, s, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := s.Keys(ctx, "")
	if err := s.RevokeKey(ctx, keys[0].ID, time.Now()); err != nil {
		t.Fatal(err)
	}

	// Another usable admin key exists: the stale file is left alone.
	other, _ := newKey(tenant.DefaultTenant, "other admin", 0)
	other.Admin = true
	mustKey(t, s, other)
	if got, created, err := tenant.Bootstrap(ctx, s, dir, ""); err != nil || created || got != "" {
		t.Fatalf("Bootstrap with another admin key = %q, %v, %v; want nothing new", got, created, err)
	}
	path := filepath.Join(dir, tenant.AdminKeyFile)
	if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != old {
		t.Errorf("admin.key was replaced although an admin key was usable")
	}

	// No usable admin key is left: a new one replaces the stale file.
	if err := s.RevokeKey(ctx, other.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	secret, created, err := tenant.Bootstrap(ctx, s, dir, "")
	if err != nil || !created || secret == old {
		t.Fatalf("Bootstrap with every admin key revoked = %q, %v, %v; want a new secret", secret, created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.key: %v; want mode 0600", err)
	}
	if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != secret {
		t.Errorf("admin.key holds %q; want the new secret", b)
	}
	authenticateAdmin(t, s, secret)
}
