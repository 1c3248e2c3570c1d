package drifttest

import (
	"testing"

	"github.com/bulwark-ai/bulwark/drift"
)

func TestMemory(t *testing.T) {
	Run(t, func(t *testing.T) drift.BaselineStore { return &Memory{} })
}
