// Package tenant owns tenants, virtual keys and the Principal a request acts
// as. A key's secret is shown once, when it is created, and stored only as a
// SHA-256 hash; authentication hashes the presented secret and compares
// hashes in constant time against an in-memory key set (the Keyring), so the
// hot path does not touch the store and keeps working from what it holds if
// the store is briefly unavailable.
//
// Tenants and keys carry Limits; the Keyring puts a key's and its
// tenant's limits in the Principal, so the request path never reads the
// store for them. Auditor is the optional capability of a store to keep
// the audit log of admin actions (tenanttest.RunAudit).
//
// A Keyring given a path (SetSnapshot) saves every key set it loads there,
// as the store holds it (hashes, never secrets; mode 0600; replaced
// atomically; a versioned header with the body's SHA-256), and
// LoadSnapshot starts from that file while the store is unreachable: a
// damaged or unknown file is refused (ErrBadSnapshot), never half read.
//
// Store is the persistence interface; backends (sqlite, postgres)
// implement it and pass tenanttest.Run. Bootstrap, run at every start, makes
// sure the default tenant and a usable admin key exist.
//
// This package must not import backends, vendors or the HTTP layer.
package tenant
