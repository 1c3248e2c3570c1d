package gateway

import (
	"encoding/json"
	"fmt"

	"github.com/bulwark-ai/bulwark/guard"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
)

// Guardrails (config models[].guardrails, package guard): once per client
// request, after its route is resolved and before grounding, the cache,
// admission and the attempt loop, the alias's input chain checks the
// request's messages. A block refuses the request with a *guard.Error
// (400 guardrail_blocked, naming the check and why, never the text); a
// mask rewrites the messages, in req.Messages and in req.Body, which the
// upstream gets; a log only counts. On a non-streamed answer the output
// chain runs the same way once the attempt loop succeeded, before the
// answer is cached: a blocked answer is refused (its usage is still
// billed: the upstream did answer), a masked one is rewritten in its
// body. A guard runs only on a success: it never turns a failure into one.
// Every finding counts in bulwark_guardrail_total{alias,check,stage,action}
// and travels in Outcome.Guardrails (for a streamed answer, found after
// Stream returned, in the metric only). Streamed answers: guard_stream.go.

// guardInput runs r's input chain on req.
func (g *Gateway) guardInput(rq *request, r *route.Route, req *llm.ChatRequest, out *Outcome) error {
	if r.Guard == nil || r.Guard.Input.Empty() {
		return nil
	}
	ts := make([]guard.Text, len(req.Messages))
	for i, m := range req.Messages {
		ts[i] = guard.Text{Role: m.Role, Content: m.Content}
	}
	masked, found, err := r.Guard.Input.Run(ts)
	g.noteGuard(rq, found, out)
	if err != nil {
		return err
	}
	mask := maskerOf(r.Guard.Input, found)
	if mask == nil {
		return nil
	}
	msgs := make([]llm.Message, len(req.Messages))
	copy(msgs, req.Messages)
	for i := range msgs {
		msgs[i].Content = masked[i].Content
	}
	body, err := maskBody(req.Body, mask)
	if err != nil {
		return fmt.Errorf("guard request: %w", err)
	}
	req.Messages, req.Body = msgs, body
	return nil
}

// guardAnswer runs r's output chain on resp; it returns the answer to
// give (resp, or a masked copy) or the *guard.Error of a block with a
// copy of resp that keeps only its usage, model and finish reasons.
func (g *Gateway) guardAnswer(rq *request, r *route.Route, resp *llm.ChatResponse, out *Outcome) (*llm.ChatResponse, error) {
	if r.Guard == nil || r.Guard.Output.Empty() || resp == nil {
		return resp, nil
	}
	var body struct {
		Choices []struct {
			Message struct {
				Content *string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		return resp, nil // not an answer the chain can read; nothing to check
	}
	ts := make([]guard.Text, 0, len(body.Choices))
	for _, c := range body.Choices {
		if c.Message.Content != nil {
			ts = append(ts, guard.Text{Role: "assistant", Content: *c.Message.Content})
		}
	}
	_, found, err := r.Guard.Output.Run(ts)
	g.noteGuard(rq, found, out)
	if err != nil {
		return &llm.ChatResponse{Model: resp.Model, FinishReasons: resp.FinishReasons, Usage: resp.Usage}, err
	}
	mask := maskerOf(r.Guard.Output, found)
	if mask == nil {
		return resp, nil
	}
	b, err := maskAnswer(resp.Body, mask)
	if err != nil {
		return resp, fmt.Errorf("guard answer: %w", err)
	}
	masked := *resp
	masked.Body = b
	return &masked, nil
}

// noteGuard counts the findings and adds them to the Outcome.
func (g *Gateway) noteGuard(rq *request, found []guard.Finding, out *Outcome) {
	for _, f := range found {
		g.metrics.RecordGuardrail(rq.alias, f.Check, string(f.Stage), string(f.Action))
	}
	out.Guardrails = append(out.Guardrails, found...)
}

// maskerOf is the masking of the Mask rules of c that found something,
// in c's order; nil when none did.
func maskerOf(c *guard.Chain, found []guard.Finding) func(string) string {
	var ms []guard.Masker
	for _, m := range c.Maskers() {
		for _, f := range found {
			if f.Check == m.Name() && f.Action == guard.Mask {
				ms = append(ms, m)
				break
			}
		}
	}
	if len(ms) == 0 {
		return nil
	}
	return func(s string) string {
		for _, m := range ms {
			s = m.Mask(s)
		}
		return s
	}
}

// maskBody applies mask to the text of every message of a chat request
// body: a string content, or the text of each part of an array content.
// Everything else in the body is kept as it is.
func maskBody(raw json.RawMessage, mask func(string) string) (json.RawMessage, error) {
	if len(raw) == 0 {
		return raw, nil
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, err
	}
	var msgs []map[string]json.RawMessage
	if err := json.Unmarshal(body["messages"], &msgs); err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	for _, m := range msgs {
		c, err := maskContent(m["content"], mask)
		if err != nil {
			return nil, err
		}
		if c != nil {
			m["content"] = c
		}
	}
	return remarshal(body, "messages", msgs)
}

// maskAnswer applies mask to the content of every choice of a
// chat.completion body.
func maskAnswer(raw []byte, mask func(string) string) ([]byte, error) {
	var body map[string]json.RawMessage
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, err
	}
	var choices []map[string]json.RawMessage
	if err := json.Unmarshal(body["choices"], &choices); err != nil {
		return nil, fmt.Errorf("choices: %w", err)
	}
	for _, ch := range choices {
		var msg map[string]json.RawMessage
		if err := json.Unmarshal(ch["message"], &msg); err != nil || msg == nil {
			continue
		}
		c, err := maskContent(msg["content"], mask)
		if err != nil {
			return nil, err
		}
		if c == nil {
			continue
		}
		msg["content"] = c
		if ch["message"], err = json.Marshal(msg); err != nil {
			return nil, err
		}
	}
	return remarshal(body, "choices", choices)
}

// maskContent masks a message's content: a string, or an array of parts
// whose "text" fields are masked. It returns nil when there is nothing to
// change.
func maskContent(raw json.RawMessage, mask func(string) string) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return json.Marshal(mask(s))
	}
	var parts []map[string]json.RawMessage
	if json.Unmarshal(raw, &parts) != nil {
		return nil, nil
	}
	for _, p := range parts {
		var t string
		if json.Unmarshal(p["text"], &t) != nil {
			continue
		}
		b, err := json.Marshal(mask(t))
		if err != nil {
			return nil, err
		}
		p["text"] = b
	}
	return json.Marshal(parts)
}

func remarshal[T any](body map[string]json.RawMessage, key string, v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	body[key] = b
	return json.Marshal(body)
}
