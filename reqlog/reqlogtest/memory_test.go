package reqlogtest

import (
	"testing"

	"github.com/bulwark-ai/bulwark/reqlog"
)

func TestMemory(t *testing.T) {
	Run(t, func(t *testing.T) reqlog.Store { return &Memory{} })
}
