package limit_test

import (
	"testing"

	"github.com/bulwark-ai/bulwark/limit"
	"github.com/bulwark-ai/bulwark/limit/limittest"
)

func TestMemory(t *testing.T) {
	limittest.Run(t, func(t *testing.T, cfg limittest.Config) limit.Limiter {
		return limit.NewMemory(limit.MemoryOptions{Now: cfg.Now, Lease: cfg.Lease})
	})
}

// A Fallback whose shared limiter answers is that limiter.
func TestFallbackHealthy(t *testing.T) {
	limittest.Run(t, func(t *testing.T, cfg limittest.Config) limit.Limiter {
		f := limit.NewFallback(limit.NewMemory(limit.MemoryOptions{Now: cfg.Now, Lease: cfg.Lease}), limit.FallbackOptions{})
		t.Cleanup(func() { f.Close() })
		return f
	})
}
