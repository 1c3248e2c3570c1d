package tenant

import "time"

// Principal returns the principal of the key with id keyID in the key set
// in force, for work a key started that runs after its request (a batch's
// lines): the key's limits, budgets and aliases as they are now. A key
// revoked or expired since is ErrRevokedKey or ErrExpiredKey.
func (k *Keyring) Principal(keyID string) (Principal, error) {
	e, ok := k.set.Load().byKeyID[keyID]
	switch {
	case !ok:
		return Principal{}, ErrUnknownKey
	case e.revoked:
		return Principal{}, ErrRevokedKey
	case !e.expiresAt.IsZero() && !time.Now().Before(e.expiresAt):
		return Principal{}, ErrExpiredKey
	}
	return e.principal, nil
}
