package tenant

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// AdminKeyFile is the file in the data directory that Bootstrap writes a
// generated admin secret to.
const AdminKeyFile = "admin.key"

// bootstrapKeyName names the admin key Bootstrap creates.
const bootstrapKeyName = "bootstrap"

// Bounds of a secret an operator supplies (BULWARK_ADMIN_KEY or their own
// admin.key): long enough not to be guessed, short enough to authenticate.
const (
	minOperatorSecretLen = 16
	maxOperatorSecretLen = maxSecretLen
)

// Bootstrap makes sure the store has the default tenant and a way in for an
// administrator. It is idempotent and runs at every start.
//
//   - If envKey (the value of BULWARK_ADMIN_KEY) is not empty, an admin key
//     named "bootstrap" with that secret is created in the default tenant
//     unless a key with that secret exists. The secret is neither returned
//     nor written anywhere. It is an error if that key exists but is
//     revoked, expired or not an admin key, or if envKey is shorter than 16
//     characters or contains spaces or control characters.
//   - Otherwise, if <dataDir>/admin.key holds a secret the store does not
//     know (the database was reset, or an operator put their own key there),
//     that secret is stored as an admin key.
//   - Otherwise, if no admin key that is neither revoked nor expired exists,
//     a new secret is generated, written to <dataDir>/admin.key with mode
//     0600 (dataDir is created with mode 0700 if missing), stored as an admin
//     key, and returned with created set so that the caller can show it
//     once. An existing admin.key is replaced only if its key was revoked or
//     expired.
func Bootstrap(ctx context.Context, s Store, dataDir, envKey string) (secret string, created bool, err error) {
	now := time.Now().UTC()
	err = s.CreateTenant(ctx, Tenant{ID: DefaultTenant, Name: "Default", CreatedAt: now})
	if err != nil && !errors.Is(err, ErrExists) {
		return "", false, fmt.Errorf("bootstrap: create tenant %q: %w", DefaultTenant, err)
	}
	keys, err := s.Keys(ctx, "")
	if err != nil {
		return "", false, fmt.Errorf("bootstrap: list keys: %w", err)
	}

	if envKey != "" {
		if err := checkOperatorSecret(envKey); err != nil {
			return "", false, fmt.Errorf("bootstrap: admin key from the environment: %w", err)
		}
		if k, ok := findHash(keys, HashSecret(envKey)); ok {
			if err := usableAdmin(k, now); err != nil {
				return "", false, fmt.Errorf("bootstrap: admin key from the environment is key %s: %w", k.ID, err)
			}
			return "", false, nil
		}
		if err := storeAdmin(ctx, s, envKey, secretPrefix(envKey), now); err != nil {
			return "", false, fmt.Errorf("bootstrap: store admin key from the environment: %w", err)
		}
		return "", false, nil
	}

	path := filepath.Join(dataDir, AdminKeyFile)
	fileSecret, err := readSecretFile(path)
	if err != nil {
		return "", false, fmt.Errorf("bootstrap: %w", err)
	}
	if fileSecret != "" {
		k, ok := findHash(keys, HashSecret(fileSecret))
		if !ok {
			if err := storeAdmin(ctx, s, fileSecret, secretPrefix(fileSecret), now); err != nil {
				return "", false, fmt.Errorf("bootstrap: store admin key from %s: %w", path, err)
			}
			return "", false, nil
		}
		if usableAdmin(k, now) == nil {
			return "", false, nil
		}
		// The file's key was revoked or expired: replace it below unless
		// another admin key is still usable.
	}
	for _, k := range keys {
		if usableAdmin(k, now) == nil {
			return "", false, nil
		}
	}

	secret, prefix, _, err := NewSecret()
	if err != nil {
		return "", false, fmt.Errorf("bootstrap: %w", err)
	}
	// The file is written before the key is stored: if storing fails, the
	// next start finds the file and stores its key, whereas a stored key
	// whose secret was never written would lock the operator out.
	if err := writeSecretFile(dataDir, path, secret, fileSecret != ""); err != nil {
		return "", false, fmt.Errorf("bootstrap: %w", err)
	}
	if err := storeAdmin(ctx, s, secret, prefix, now); err != nil {
		return "", false, fmt.Errorf("bootstrap: store admin key: %w", err)
	}
	return secret, true, nil
}

func findHash(keys []Key, hash string) (Key, bool) {
	for _, k := range keys {
		if k.Hash == hash {
			return k, true
		}
	}
	return Key{}, false
}

// usableAdmin returns nil if k is an admin key that may be used at now.
func usableAdmin(k Key, now time.Time) error {
	switch {
	case !k.Admin:
		return errors.New("not an admin key")
	case k.RevokedAt != nil:
		return ErrRevokedKey
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return ErrExpiredKey
	}
	return nil
}

func storeAdmin(ctx context.Context, s Store, secret, prefix string, now time.Time) error {
	err := s.CreateKey(ctx, Key{
		ID:        NewID("key"),
		TenantID:  DefaultTenant,
		Name:      bootstrapKeyName,
		Prefix:    prefix,
		Hash:      HashSecret(secret),
		Admin:     true,
		CreatedAt: now,
	})
	if errors.Is(err, ErrExists) {
		// Another replica starting at the same time stored it first.
		return nil
	}
	return err
}

// checkOperatorSecret rejects a secret an operator supplied that is too weak
// or could not be sent in an Authorization header.
func checkOperatorSecret(secret string) error {
	if len(secret) < minOperatorSecretLen {
		return fmt.Errorf("a key must have at least %d characters", minOperatorSecretLen)
	}
	if len(secret) > maxOperatorSecretLen {
		return fmt.Errorf("a key must have at most %d characters", maxOperatorSecretLen)
	}
	for i := 0; i < len(secret); i++ {
		if c := secret[i]; c <= ' ' || c > '~' {
			return errors.New("a key may hold only printable ASCII characters other than space")
		}
	}
	return nil
}

// readSecretFile returns the secret in path, or "" if the file is missing
// or empty.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read admin key: %w", err)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", nil
	}
	if err := checkOperatorSecret(secret); err != nil {
		return "", fmt.Errorf("admin key in %s: %w", path, err)
	}
	return secret, nil
}

// writeSecretFile writes secret to path with mode 0600, creating dir with
// mode 0700 if needed. It never overwrites a file it did not expect:
// replace removes the stale file first, and the file is then created
// exclusively.
func writeSecretFile(dir, path, secret string, replace bool) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if replace {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale admin key: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("write admin key: %s appeared while bootstrapping; start again to use it", path)
		}
		return fmt.Errorf("write admin key: %w", err)
	}
	err = f.Chmod(0o600) // in case the umask is unusual
	if err == nil {
		_, err = f.WriteString(secret + "\n")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("write admin key: %w", err)
	}
	return nil
}
