package tenant_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/tenant/tenanttest"
)

func TestMemory(t *testing.T) {
	tenanttest.Run(t, func(*testing.T) tenant.Store { return tenanttest.NewMemory() })
}

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		secret, prefix, hash, err := tenant.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		body, ok := strings.CutPrefix(secret, "bk-")
		if !ok || len(body) != 43 {
			t.Fatalf("secret %q: want bk- and 43 characters", secret)
		}
		if b, err := base64.RawURLEncoding.DecodeString(body); err != nil || len(b) != 32 {
			t.Fatalf("secret %q is not 32 bytes of base64url: %v", secret, err)
		}
		if prefix != secret[:10] {
			t.Errorf("prefix = %q; want %q", prefix, secret[:10])
		}
		if hash != tenant.HashSecret(secret) || len(hash) != 64 {
			t.Errorf("hash = %q; want the hex SHA-256 of the secret", hash)
		}
		if seen[secret] {
			t.Fatalf("secret %q generated twice", secret)
		}
		seen[secret] = true
	}
	// A known vector pins the hash function.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := tenant.HashSecret("abc"); got != want {
		t.Errorf("HashSecret(abc) = %s; want %s", got, want)
	}
}

func TestNewID(t *testing.T) {
	id := tenant.NewID("key")
	if !strings.HasPrefix(id, "key_") || len(id) != len("key_")+16 {
		t.Errorf("NewID(key) = %q; want key_ and 16 hex digits", id)
	}
	if tenant.NewID("key") == id {
		t.Errorf("NewID repeated itself")
	}
}

func TestMemoryAudit(t *testing.T) {
	tenanttest.RunAudit(t, func(*testing.T) tenant.Auditor { return tenanttest.NewMemory() })
}
