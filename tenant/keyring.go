package tenant

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-ai/bulwark/usage"
)

// Errors of Keyring.Authenticate.
var (
	ErrUnknownKey = errors.New("unknown key")
	ErrRevokedKey = errors.New("key revoked")
	ErrExpiredKey = errors.New("key expired")
)

// maxSecretLen bounds the secrets Authenticate considers: longer ones cannot
// be keys, and hashing them would only cost time.
const maxSecretLen = 256

// Keyring is the in-memory key set the request path authenticates against.
// Reload replaces the whole set at once from the Store; between reloads, and
// when a reload fails, the last set loaded stays in force, so authentication
// never waits on the store and survives its outages.
//
// A Keyring is safe for concurrent use.
type Keyring struct {
	store Store
	// reload serializes Reload, so that a load that read the store before
	// a write (a background refresh) cannot publish its older set after
	// the load that followed the write (the admin API's).
	reload sync.Mutex
	set    atomic.Pointer[keySet]
	// lastErr holds the error of the last Reload, or a nil *reloadError.
	lastErr atomic.Pointer[reloadError]
	// snap is where Reload saves the key set (snapshot.go); nil: nowhere.
	snap *snapshotFile
}

type reloadError struct{ err error }

// keySet is one immutable snapshot of the keys. It is never modified after
// it is published.
type keySet struct {
	byHash map[[sha256.Size]byte]*entry
	// byKeyID holds the same entries by key id (Principal).
	byKeyID map[string]*entry
	// loadedAt is when the store gave the set, also for a set loaded
	// from a snapshot.
	loadedAt time.Time
	source   Source
}

type entry struct {
	hash      [sha256.Size]byte
	principal Principal
	expiresAt time.Time // zero: never
	revoked   bool
}

// NewKeyring returns a Keyring over s. It holds no keys until the first
// successful Reload.
func NewKeyring(s Store) *Keyring {
	k := &Keyring{store: s}
	k.set.Store(&keySet{})
	return k
}

// Reload loads every key from the store and swaps the new set in. If the
// store fails, the previous set stays in force and the error is returned.
// After a successful load it saves the set where SetSnapshot says.
func (k *Keyring) Reload(ctx context.Context) error {
	k.reload.Lock()
	defer k.reload.Unlock()
	keys, err := k.store.Keys(ctx, "")
	if err != nil {
		err = fmt.Errorf("reload keys: %w", err)
		k.lastErr.Store(&reloadError{err: err})
		return err
	}
	tenants, err := k.store.Tenants(ctx)
	if err != nil {
		err = fmt.Errorf("reload keys: %w", err)
		k.lastErr.Store(&reloadError{err: err})
		return err
	}
	budgets, err := budgetsOf(ctx, k.store)
	if err != nil {
		k.lastErr.Store(&reloadError{err: err})
		return err
	}
	set := buildSet(keys, tenants, budgets, time.Now(), SourceStore)
	k.set.Store(set)
	k.lastErr.Store(nil)
	if k.snap != nil {
		k.snap.save(set.loadedAt, keys, tenants, budgets)
	}
	return nil
}

// buildSet returns the key set of keys, with their tenants' limits and
// attributes and the budgets (by name) that apply to them.
func buildSet(keys []Key, tenants []Tenant, budgets map[string]usage.Budget, loadedAt time.Time, source Source) *keySet {
	byID := make(map[string]Tenant, len(tenants))
	for _, t := range tenants {
		byID[t.ID] = t
	}
	set := &keySet{byHash: make(map[[sha256.Size]byte]*entry, len(keys)), byKeyID: make(map[string]*entry, len(keys)),
		loadedAt: loadedAt, source: source}
	for _, key := range keys {
		var h [sha256.Size]byte
		if !decodeHash(&h, key.Hash) {
			// A hash that is not hex SHA-256 matches no secret; one bad row
			// must not lock every other key out.
			continue
		}
		e := &entry{
			hash: h,
			principal: Principal{
				TenantID: key.TenantID,
				KeyID:    key.ID,
				Admin:    key.Admin,
				// Clipped so that an append by a caller copies instead of
				// writing into the shared array.
				Models:       slices.Clip(slices.Clone(key.Models)),
				KeyLimits:    key.Limits,
				TenantLimits: byID[key.TenantID].Limits,
				Priority:     cmp.Or(key.Priority, byID[key.TenantID].Priority),
				Aliases:      overlay(byID[key.TenantID].Aliases, key.Aliases),
				Tags:         overlay(byID[key.TenantID].Tags, key.Tags),
				KeyTools:     slices.Clip(cloneList(key.Tools)),
				TenantTools:  slices.Clip(cloneList(byID[key.TenantID].Tools)),
			},
			revoked: key.RevokedAt != nil,
		}
		if len(e.principal.Models) == 0 {
			e.principal.Models = nil
		}
		if key.ExpiresAt != nil {
			e.expiresAt = *key.ExpiresAt
		}
		e.principal.setBudgets(budgets)
		set.byHash[h] = e
		set.byKeyID[key.ID] = e
	}
	return set
}

// Authenticate returns the Principal of the key whose secret this is, or
// ErrUnknownKey, ErrRevokedKey or ErrExpiredKey. The Principal's Models
// slice and its maps are shared with the key set and must not be modified.
func (k *Keyring) Authenticate(secret string) (Principal, error) {
	if len(secret) == 0 || len(secret) > maxSecretLen {
		return Principal{}, ErrUnknownKey
	}
	// Copying into a stack buffer keeps the hashing allocation-free.
	var buf [maxSecretLen]byte
	n := copy(buf[:], secret)
	sum := sha256.Sum256(buf[:n])
	e, ok := k.set.Load().byHash[sum]
	if !ok || subtle.ConstantTimeCompare(e.hash[:], sum[:]) != 1 {
		return Principal{}, ErrUnknownKey
	}
	if e.revoked {
		return Principal{}, ErrRevokedKey
	}
	if !e.expiresAt.IsZero() && !time.Now().Before(e.expiresAt) {
		return Principal{}, ErrExpiredKey
	}
	return e.principal, nil
}

// Status reports when the key set in force was loaded (zero before the
// first successful Reload), how many keys it holds, and the error of the
// last Reload if it failed.
func (k *Keyring) Status() (loadedAt time.Time, keys int, err error) {
	set := k.set.Load()
	if re := k.lastErr.Load(); re != nil {
		err = re.err
	}
	return set.loadedAt, len(set.byHash), err
}

// Run reloads the key set every interval until ctx is done, so that keys
// created or revoked elsewhere (another replica, the command line) take
// effect. A failed reload keeps the previous set and is reported by Status.
// The caller owns the goroutine Run blocks in.
func (k *Keyring) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = k.Reload(ctx)
		}
	}
}

// overlay returns the entries of base and over, over's winning; nil when
// both are empty. The result shares nothing with either.
func overlay(base, over map[string]string) map[string]string {
	if len(base)+len(over) == 0 {
		return nil
	}
	m := make(map[string]string, len(base)+len(over))
	maps.Copy(m, base)
	maps.Copy(m, over)
	return m
}

// decodeHash decodes a hex SHA-256 into h.
func decodeHash(h *[sha256.Size]byte, s string) bool {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return false
	}
	copy(h[:], b)
	return true
}
