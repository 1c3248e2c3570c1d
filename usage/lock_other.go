//go:build !unix

package usage

// lockDir is a no-op where flock does not exist: only this process's own
// Writers are kept apart there (logDirs).
func lockDir(string) (func(), error) { return func() {}, nil }
