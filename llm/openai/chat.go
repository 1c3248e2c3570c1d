package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strconv"

	"github.com/bulwark-ai/bulwark/llm"
)

// Chat performs a non-streaming chat completion: POST {base}/chat/completions
// with the client's body (model replaced, stream false). The response body is
// returned verbatim with its model, finish reasons and usage parsed.
func (c *Client) Chat(ctx context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	body, err := chatBody(req, false)
	if err != nil {
		return nil, c.errorf(llm.KindBadRequest, req.Model, err, "%v", err)
	}
	resp, err := c.post(ctx, "/chat/completions", req.Model, body, false)
	if err != nil {
		return nil, err
	}
	b, err := c.readBody(ctx, resp, req.Model)
	if err != nil {
		return nil, err
	}
	var w wireChatResponse
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, c.errorf(llm.KindServer, req.Model, err, "response is not a chat completion: %v", err)
	}
	if w.Choices == nil && isPresent(w.Error) {
		return nil, c.eventError(b, req.Model)
	}
	out := &llm.ChatResponse{
		Body:          b,
		Model:         w.Model,
		FinishReasons: make([]string, len(w.Choices)),
	}
	for i, ch := range w.Choices {
		out.FinishReasons[i] = string(ch.FinishReason)
	}
	if w.Usage != nil {
		out.Usage = w.Usage.usage()
	}
	return out, nil
}

// isPresent reports whether raw holds a JSON value other than null.
func isPresent(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && string(raw) != "null"
}

type wireChatResponse struct {
	Model   string `json:"model"`
	Choices []struct {
		FinishReason nullString `json:"finish_reason"`
	} `json:"choices"`
	Usage *wireUsage      `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// wireUsage is OpenAI's usage object.
type wireUsage struct {
	PromptTokens        count `json:"prompt_tokens"`
	CompletionTokens    count `json:"completion_tokens"`
	TotalTokens         count `json:"total_tokens"`
	PromptTokensDetails *struct {
		CachedTokens count `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

func (w *wireUsage) usage() llm.Usage {
	u := llm.Usage{
		PromptTokens:     int(w.PromptTokens),
		CompletionTokens: int(w.CompletionTokens),
		TotalTokens:      int(w.TotalTokens),
	}
	if w.PromptTokensDetails != nil {
		u.CachedTokens = int(w.PromptTokensDetails.CachedTokens)
	}
	if u.TotalTokens == 0 {
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	return u
}

// count is a token count that tolerates what servers send: null, and
// numbers written as floats.
type count int

func (n *count) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = 0
		return nil
	}
	if v, err := strconv.ParseInt(string(b), 10, 32); err == nil {
		*n = count(max(v, 0))
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || v < 0 || v > math.MaxInt32 {
		// Not a count: ignore it rather than fail the answer.
		*n = 0
		return nil
	}
	*n = count(v)
	return nil
}

// nullString is a string that may be null or another scalar.
type nullString string

func (s *nullString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = nullString(v)
		return nil
	}
	*s = ""
	return nil
}
