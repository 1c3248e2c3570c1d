package loadmetrics

import (
	"testing"

	"github.com/bulwark-ai/bulwark/leakcheck"
)

// TestMain fails the run when a scraper outlives the tests.
func TestMain(m *testing.M) { leakcheck.Main(m, "bulwark-ai/bulwark/") }
