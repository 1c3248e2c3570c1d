package tenant

import "time"

// Principal returns the principal of the key with id keyID in the key set
// in force, for work a key started that runs after its request (a batch's
// lines): the key's limits, budgets and aliases as they are now. A key
// revoked or expired since is ErrRevokedKey or ErrExpiredKey. It looks
// through the whole set: for work done per line, not per request.
func (k *Keyring) Principal(keyID string) (Principal, error) {
	for _, e := range k.set.Load().byHash {
		if e.principal.KeyID != keyID {
			continue
		}
		if e.revoked {
			return Principal{}, ErrRevokedKey
		}
		if !e.expiresAt.IsZero() && !time.Now().Before(e.expiresAt) {
			return Principal{}, ErrExpiredKey
		}
		return e.principal, nil
	}
	return Principal{}, ErrUnknownKey
}
