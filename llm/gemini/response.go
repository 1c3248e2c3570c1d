package gemini

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/oai"
	"github.com/bulwark-ai/bulwark/llm/upstream"
)

// genResponse is a GenerateContentResponse: a whole answer, or one event
// of a stream. Error is set on an error object inside a stream.
type genResponse struct {
	Candidates     []candidate     `json:"candidates"`
	PromptFeedback *promptFeedback `json:"promptFeedback"`
	UsageMetadata  *usageMetadata  `json:"usageMetadata"`
	ModelVersion   string          `json:"modelVersion"`
	ResponseID     string          `json:"responseId"`
	Error          json.RawMessage `json:"error"`
}

type candidate struct {
	Content       *content `json:"content"`
	FinishReason  string   `json:"finishReason"`
	FinishMessage string   `json:"finishMessage"`
	Index         int      `json:"index"`
}

type promptFeedback struct {
	BlockReason        string `json:"blockReason"`
	BlockReasonMessage string `json:"blockReasonMessage"`
}

type usageMetadata struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount"`
	TotalTokenCount         int `json:"totalTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount"`
}

// usage maps Gemini's token counts: thoughts are completion tokens (they
// are billed as output), cached content is the prompt's cached part.
func (u *usageMetadata) usage() llm.Usage {
	out := llm.Usage{
		PromptTokens:     max(u.PromptTokenCount, 0),
		CompletionTokens: max(u.CandidatesTokenCount, 0) + max(u.ThoughtsTokenCount, 0),
		CachedTokens:     max(u.CachedContentTokenCount, 0),
	}
	out.TotalTokens = max(u.TotalTokenCount, out.PromptTokens+out.CompletionTokens)
	return out
}

// finish maps a Gemini finish reason to OpenAI's; calls says whether the
// answer holds function calls. ok is false for the reasons that mean the
// answer failed (a malformed or unexpected function call): there is no
// OpenAI finish reason for them, and retrying may succeed.
func finish(reason string, calls bool) (string, bool) {
	switch reason {
	case "MAX_TOKENS":
		return oai.FinishLength, true
	case "SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII",
		"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return oai.FinishContentFilter, true
	case "MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL":
		return "", false
	}
	// STOP, and the reasons OpenAI has no word for (OTHER, LANGUAGE, …).
	if calls {
		return oai.FinishToolCalls, true
	}
	return oai.FinishStop, true
}

// finishError is the error of an answer that finished with a reason finish
// rejects.
func (c *Client) finishError(model string, cand *candidate) *llm.Error {
	msg := cand.FinishMessage
	if msg == "" {
		msg = "the model's answer ended with " + cand.FinishReason
	}
	e := c.errorf(llm.KindServer, model, nil, "%s", upstream.Clip(msg))
	e.Code = cand.FinishReason
	return e
}

// blockError is the error of a prompt Gemini blocked.
func (c *Client) blockError(model string, pf *promptFeedback) *llm.Error {
	msg := pf.BlockReasonMessage
	if msg == "" {
		msg = "the prompt was blocked (" + pf.BlockReason + ")"
	}
	e := c.errorf(llm.KindContentFilter, model, nil, "%s", upstream.Clip(msg))
	e.Status, e.Code = http.StatusOK, pf.BlockReason
	return e
}

// callID returns a tool call's id: Gemini's when it sent one, else a new
// one in OpenAI's form.
func callID(fc *functionCall) string {
	if fc.ID != "" {
		return fc.ID
	}
	return "call_" + rand.Text()[:24]
}

// argsText is a call's args as OpenAI's arguments: compact JSON text, "{}"
// when there are none.
func argsText(raw json.RawMessage) string {
	var buf bytes.Buffer
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" || json.Compact(&buf, raw) != nil {
		return "{}"
	}
	return buf.String()
}

// responseID is the chat completion id of a Gemini response id.
func responseID(id string) string {
	if id == "" {
		id = rand.Text()
	}
	return oai.ID(id)
}

// Chat performs a non-streaming chat completion: POST
// {base}/models/{model}:generateContent with the request translated, and
// the answer translated back into a chat.completion.
func (c *Client) Chat(ctx context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	body, err := c.chatBody(req)
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, req.Model, "generateContent", body, false)
	if err != nil {
		return nil, err
	}
	b, err := c.errs().ReadBody(ctx, resp, req.Model, maxResponseBytes)
	if err != nil {
		return nil, err
	}
	var w genResponse
	if err := json.Unmarshal(b, &w); err != nil {
		e := c.errorf(llm.KindServer, req.Model, err, "response is not a GenerateContentResponse: %v", err)
		e.Status = http.StatusOK
		return nil, e
	}
	if isPresent(w.Error) {
		return nil, c.eventError(w.Error, req.Model)
	}
	comp, e := c.completion(&w, req.Model)
	if e != nil {
		return nil, e
	}
	return comp.Response(), nil
}

// completion translates a whole answer. Only the first candidate is read:
// Bulwark asks for one.
func (c *Client) completion(w *genResponse, model string) (*oai.Completion, *llm.Error) {
	if len(w.Candidates) == 0 {
		if w.PromptFeedback != nil && w.PromptFeedback.BlockReason != "" {
			return nil, c.blockError(model, w.PromptFeedback)
		}
		e := c.errorf(llm.KindServer, model, nil, "the answer has no candidates")
		e.Status = http.StatusOK
		return nil, e
	}
	cand := &w.Candidates[0]
	comp := &oai.Completion{ID: responseID(w.ResponseID), Model: w.ModelVersion, Created: time.Now().Unix()}
	if comp.Model == "" {
		comp.Model = model
	}
	var text bytes.Buffer
	if cand.Content != nil {
		for i := range cand.Content.Parts {
			p := &cand.Content.Parts[i]
			switch {
			case p.Thought:
				// A thought summary is not the answer.
			case p.FunctionCall != nil:
				comp.ToolCalls = append(comp.ToolCalls, oai.ToolCall{
					ID: callID(p.FunctionCall), Name: p.FunctionCall.Name, Arguments: argsText(p.FunctionCall.Args),
				})
			default:
				text.WriteString(p.Text)
			}
		}
	}
	comp.Text = text.String()
	reason, ok := finish(cand.FinishReason, len(comp.ToolCalls) > 0)
	if !ok {
		return nil, c.finishError(model, cand)
	}
	comp.FinishReason = reason
	if w.UsageMetadata != nil {
		comp.Usage = w.UsageMetadata.usage()
	}
	return comp, nil
}

// isPresent reports whether raw holds a JSON value other than null.
func isPresent(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && string(raw) != "null"
}
