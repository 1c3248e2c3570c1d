package rag

import (
	"errors"
	"fmt"

	"github.com/bulwark-ai/bulwark/rag/chunk"
)

// ErrInvalid marks a request the client got wrong; its message says what.
var ErrInvalid = errors.New("invalid request")

// checkChunking validates a strategy as a client's mistake.
func checkChunking(c chunk.Strategy) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// resolved returns c with auto made explicit: static, 800 tokens, 400
// overlap, which is what OpenAI's auto is today and what a store file
// reports.
func resolved(c chunk.Strategy) chunk.Strategy {
	if c.Type == "" || c.Type == chunk.Auto {
		return chunk.Strategy{Type: chunk.Static, Static: &chunk.Sizes{MaxChunkSizeTokens: chunk.DefaultChunkTokens, ChunkOverlapTokens: chunk.DefaultOverlap}}
	}
	return c
}
