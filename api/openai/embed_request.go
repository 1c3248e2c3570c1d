package openai

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/llm"
)

type embedWire struct {
	Model          *string         `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat *string         `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
	User           *string         `json:"user"`
}

// maxEmbedInputs is OpenAI's limit on inputs per embeddings call.
const maxEmbedInputs = 2048

// decodeEmbed decodes and validates an embeddings request body. It returns
// whether the client asked for base64.
func decodeEmbed(body []byte) (*llm.EmbedRequest, bool, error) {
	var w embedWire
	if err := api.Unmarshal(body, &w, false); err != nil {
		return nil, false, err
	}
	if w.Model == nil || *w.Model == "" {
		return nil, false, api.BadRequest("model", "you must provide a model parameter")
	}
	input, err := decodeInput(w.Input)
	if err != nil {
		return nil, false, err
	}
	base64 := false
	if w.EncodingFormat != nil {
		switch *w.EncodingFormat {
		case "float":
		case "base64":
			base64 = true
		default:
			return nil, false, api.BadRequest("encoding_format", "encoding_format must be \"float\" or \"base64\", got %q", *w.EncodingFormat)
		}
	}
	req := &llm.EmbedRequest{Model: *w.Model, Input: input, Body: body}
	if w.Dimensions != nil {
		if *w.Dimensions < 1 {
			return nil, false, api.BadRequest("dimensions", "dimensions must be at least 1, got %d", *w.Dimensions)
		}
		req.Dimensions = *w.Dimensions
	}
	if w.User != nil {
		req.User = *w.User
	}
	return req, base64, nil
}

// decodeInput accepts every form OpenAI does: a string, an array of
// strings, an array of token ids, or an array of arrays of token ids. Token
// arrays become their ids joined by spaces, which only the simulator and
// token-counting read; OpenAI-compatible upstreams get the raw body.
func decodeInput(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, api.BadRequest("input", "missing required parameter: input")
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		if one == "" {
			return nil, api.BadRequest("input", "input must not be an empty string")
		}
		return []string{one}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, api.BadRequest("input", "input must be a string, an array of strings or an array of token arrays")
	}
	if len(items) == 0 {
		return nil, api.BadRequest("input", "input must not be an empty array")
	}
	if len(items) > maxEmbedInputs {
		return nil, api.BadRequest("input", "input may hold at most %d items, got %d", maxEmbedInputs, len(items))
	}
	// An array of numbers is one tokenised input.
	var tokens []int
	if err := json.Unmarshal(raw, &tokens); err == nil {
		return []string{joinTokens(tokens)}, nil
	}
	out := make([]string, len(items))
	for i, it := range items {
		var s string
		if err := json.Unmarshal(it, &s); err == nil {
			if s == "" {
				return nil, api.BadRequest("input", "input[%d] must not be an empty string", i)
			}
			out[i] = s
			continue
		}
		if err := json.Unmarshal(it, &tokens); err != nil || len(tokens) == 0 {
			return nil, api.BadRequest("input", "input[%d] must be a non-empty string or array of token ids", i)
		}
		out[i] = joinTokens(tokens)
	}
	return out, nil
}

func joinTokens(tokens []int) string {
	var sb strings.Builder
	for i, t := range tokens {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(strconv.Itoa(t))
	}
	return sb.String()
}
