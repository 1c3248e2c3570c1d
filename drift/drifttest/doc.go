// Package drifttest holds the conformance suite every drift.BaselineStore
// backend passes (Run) and Memory, an in-memory BaselineStore for tests of
// other packages and the reference the suite's expectations are written
// against.
//
// This package may import only the standard library and drift; it is
// imported by tests, never by the binary's request path.
package drifttest
