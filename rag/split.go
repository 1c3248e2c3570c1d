package rag

import (
	"bytes"
	"context"

	"github.com/bulwark-ai/bulwark/rag/chunk"
	"github.com/bulwark-ai/bulwark/rag/parse"
)

// Split parses a file's content (its real type found from the bytes, the
// name a hint) and chunks it by strategy c.
func Split(ctx context.Context, name string, content []byte, c chunk.Strategy) ([]Piece, error) {
	doc, err := parse.Parse(ctx, name, "", bytes.NewReader(content), parse.Limits{})
	if err != nil {
		return nil, err
	}
	chunks, err := chunk.Split(doc, c)
	if err != nil {
		return nil, err
	}
	out := make([]Piece, len(chunks))
	for i, ch := range chunks {
		out[i] = Piece{Text: ch.Text, Page: ch.Page, Section: ch.Section, Tokens: ch.Tokens, Hash: ch.Hash}
	}
	return out, nil
}
