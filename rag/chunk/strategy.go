package chunk

import (
	"errors"
	"fmt"
)

// The strategy types.
const (
	Auto      = "auto"
	Static    = "static"
	Structure = "structure"
)

// OpenAI's bounds and defaults for static chunking.
const (
	MinChunkTokens     = 100
	MaxChunkTokens     = 4096
	DefaultChunkTokens = 800
	DefaultOverlap     = 400
)

// Strategy is a vector store file's chunking_strategy as OpenAI's Vector
// Stores API writes it: {"type": "static", "static":
// {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}. The type
// "structure" is Bulwark's own and takes its sizes from "structure" in
// the same shape. The zero value is "auto".
type Strategy struct {
	Type      string `json:"type"`
	Static    *Sizes `json:"static,omitempty"`
	Structure *Sizes `json:"structure,omitempty"`
}

// Sizes bound a chunk: at most MaxChunkSizeTokens tokens, of which
// ChunkOverlapTokens repeat the end of the chunk before.
type Sizes struct {
	MaxChunkSizeTokens int `json:"max_chunk_size_tokens"`
	ChunkOverlapTokens int `json:"chunk_overlap_tokens"`
}

// ErrInvalid is the kind of every validation error: the request is bad,
// an HTTP 400.
var ErrInvalid = errors.New("invalid chunking strategy")

// FieldError is one problem with one field of a strategy; Field is its
// path in the request ("chunking_strategy.static.max_chunk_size_tokens").
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Validate returns every problem of s at once, joined; each is a
// *FieldError matching ErrInvalid.
func (s Strategy) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: "chunking_strategy." + field, Message: fmt.Sprintf(format, args...)})
	}
	sizes := func(name string, z *Sizes) {
		if z == nil {
			bad(name, "required when type is %q", name)
			return
		}
		if z.MaxChunkSizeTokens < MinChunkTokens || z.MaxChunkSizeTokens > MaxChunkTokens {
			bad(name+".max_chunk_size_tokens", "must be between %d and %d, got %d", MinChunkTokens, MaxChunkTokens, z.MaxChunkSizeTokens)
		}
		if z.ChunkOverlapTokens < 0 {
			bad(name+".chunk_overlap_tokens", "must not be negative, got %d", z.ChunkOverlapTokens)
		} else if z.ChunkOverlapTokens > z.MaxChunkSizeTokens/2 {
			bad(name+".chunk_overlap_tokens", "must not exceed half of max_chunk_size_tokens (%d), got %d", z.MaxChunkSizeTokens/2, z.ChunkOverlapTokens)
		}
	}
	switch s.Type {
	case "", Auto:
		if s.Static != nil {
			bad("static", "not allowed when type is %q", Auto)
		}
	case Static:
		sizes(Static, s.Static)
	case Structure:
		sizes(Structure, s.Structure)
	default:
		bad("type", "must be %q, %q or %q, got %q", Auto, Static, Structure, s.Type)
	}
	if s.Type != Structure && s.Structure != nil {
		bad("structure", "not allowed when type is %q", s.Type)
	}
	return errors.Join(errs...)
}

// sizes returns the sizes s chunks with and whether it is aware of
// structure; s must be valid.
func (s Strategy) sizes() (Sizes, bool) {
	switch s.Type {
	case Static:
		return *s.Static, false
	case Structure:
		return *s.Structure, true
	}
	return Sizes{MaxChunkSizeTokens: DefaultChunkTokens, ChunkOverlapTokens: DefaultOverlap}, false
}
