// Package reqlogtest holds the conformance suite every reqlog.Store
// backend passes (Run) and Memory, an in-memory Store for tests of other
// packages and the reference the suite's expectations are written
// against.
//
// This package may import only the standard library and reqlog; it is
// imported by tests, never by the binary's request path.
package reqlogtest
