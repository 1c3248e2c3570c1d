package batch_test

import (
	"testing"

	"github.com/bulwark-ai/bulwark/leakcheck"
)

// TestMain fails the run when a goroutine of Bulwark's outlives the tests.
func TestMain(m *testing.M) { leakcheck.Main(m, "bulwark-ai/bulwark/") }
