// Package tenanttest holds the conformance suite every tenant.Store backend
// passes (Run), which also exercises the Keyring and Bootstrap against the
// backend, and Memory, an in-memory Store for tests of other packages.
//
// This package may import only the standard library and tenant; it is
// imported by tests, never by the binary's request path.
package tenanttest
