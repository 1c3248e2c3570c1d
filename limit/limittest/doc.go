// Package limittest holds the conformance suite every limit.Limiter
// backend passes (Run) and Clock, a settable clock the suite drives so that
// no test waits for a window to pass.
//
// This package imports only the standard library and limit; it is
// imported by tests, never by the binary's request path.
package limittest
