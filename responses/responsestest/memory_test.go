package responsestest

import (
	"testing"

	"github.com/bulwark-ai/bulwark/responses"
)

func TestMemory(t *testing.T) {
	Run(t, func(t *testing.T) responses.Store { return &Memory{} })
}
