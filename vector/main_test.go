package vector_test

import (
	"testing"

	"github.com/bulwark-ai/bulwark/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m, "bulwark-ai/bulwark/") }
