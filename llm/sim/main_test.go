package sim

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run when a goroutine is still inside the simulator
// after every test ended: a handler stuck in a hang or a stall whose client
// left, or a stream nobody closed, would show up here.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := simGoroutines(); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left in the simulator:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// simGoroutines returns the stacks of the goroutines running simulator
// code, giving those that are finishing a moment to do so.
func simGoroutines() string {
	deadline := time.Now().Add(2 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "bulwark/llm/sim.") && !strings.Contains(g, "sim.TestMain") && !strings.Contains(g, "sim.simGoroutines") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		runtime.Gosched()
	}
}
