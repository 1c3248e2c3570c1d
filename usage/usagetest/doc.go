// Package usagetest holds the conformance suite every usage.Ledger backend
// passes (Run) and Memory, an in-memory Ledger for tests of other packages
// and the reference the suite's expectations are written against.
//
// This package may import only the standard library and usage; it is
// imported by tests, never by the binary's request path.
package usagetest
