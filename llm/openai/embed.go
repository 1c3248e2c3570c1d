package openai

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/bulwark-ai/bulwark/llm"
)

// Embed computes embeddings: POST {base}/embeddings with the client's body
// (model replaced, encoding_format untouched). Each embedding may come as a
// float array or as base64 of little-endian float32s; vectors are returned in
// input order (by their index).
func (c *Client) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	body, err := embedBody(req)
	if err != nil {
		return nil, c.errorf(llm.KindBadRequest, req.Model, err, "%v", err)
	}
	resp, err := c.post(ctx, "/embeddings", req.Model, body, false)
	if err != nil {
		return nil, err
	}
	b, err := c.errs().ReadBody(ctx, resp, req.Model, maxResponseBytes)
	if err != nil {
		return nil, err
	}
	out, err := decodeEmbeddings(b)
	if err != nil {
		var w struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(b, &w) == nil && isPresent(w.Error) {
			return nil, c.eventError(b, req.Model)
		}
		return nil, c.errorf(llm.KindServer, req.Model, err, "embeddings response: %v", err)
	}
	if len(req.Input) > 0 && len(out.Vectors) != len(req.Input) {
		return nil, c.errorf(llm.KindServer, req.Model, nil,
			"embeddings response has %d vectors for %d inputs", len(out.Vectors), len(req.Input))
	}
	return out, nil
}

type wireEmbedResponse struct {
	Data []struct {
		Index     *int            `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Model string     `json:"model"`
	Usage *wireUsage `json:"usage"`
}

// decodeEmbeddings parses an embeddings response body.
func decodeEmbeddings(b []byte) (*llm.EmbedResponse, error) {
	var w wireEmbedResponse
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, err
	}
	if w.Data == nil {
		return nil, errors.New("no data")
	}
	out := &llm.EmbedResponse{
		Vectors: make([][]float32, len(w.Data)),
		Model:   w.Model,
	}
	if w.Usage != nil {
		out.Usage = w.Usage.usage()
	}
	// Place each vector at its index; an answer without indexes is in
	// order.
	seen := make([]bool, len(w.Data))
	for i, d := range w.Data {
		at := i
		if d.Index != nil {
			at = *d.Index
		}
		if at < 0 || at >= len(w.Data) || seen[at] {
			return nil, fmt.Errorf("data[%d]: index %d out of range or repeated", i, at)
		}
		seen[at] = true
		v, err := decodeVector(d.Embedding)
		if err != nil {
			return nil, fmt.Errorf("data[%d].embedding: %w", i, err)
		}
		out.Vectors[at] = v
	}
	return out, nil
}

// decodeVector parses an embedding written as a float array or as base64 of
// little-endian float32s (encoding_format "base64").
func decodeVector(raw json.RawMessage) ([]float32, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errors.New("missing")
	}
	if raw[0] != '"' {
		var v []float32
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		return v, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("base64: %w", err)
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("base64 holds %d bytes, not a whole number of float32s", len(b))
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}
