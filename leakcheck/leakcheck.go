// Package leakcheck fails a package's tests when a goroutine running
// Bulwark code outlives them: every goroutine must have an owner that stops
// it and waits for it (STYLE.md), and this is how that is checked.
//
// It is imported only by tests, from a TestMain:
//
//	func TestMain(m *testing.M) { leakcheck.Main(m, "bulwark-ai/bulwark/") }
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Main runs the tests and then, if they passed, fails the run when a
// goroutine whose stack mentions any of match is still running, giving
// those that are finishing two seconds to do so. It does not return.
func Main(m *testing.M, match ...string) {
	code := m.Run()
	if code == 0 {
		if leaked := Leaked(2*time.Second, match...); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left behind:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// Leaked returns the stacks of the goroutines (other than the caller's and
// TestMain's) whose stack mentions any of match, waiting up to grace for
// them to end; "" when there are none.
func Leaked(grace time.Duration, match ...string) string {
	deadline := time.Now().Add(grace)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, ".TestMain") || strings.Contains(g, "leakcheck.") {
				continue
			}
			for _, m := range match {
				if strings.Contains(g, m) {
					leaked = append(leaked, g)
					break
				}
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
