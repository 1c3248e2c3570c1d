package sim

import (
	"testing"

	"github.com/bulwark-ai/bulwark/leakcheck"
)

// TestMain fails the run when a goroutine is still inside the simulator
// after every test ended: a handler stuck in a hang or a stall whose client
// left, or a stream nobody closed, would show up here.
func TestMain(m *testing.M) { leakcheck.Main(m, "bulwark/llm/sim.") }
