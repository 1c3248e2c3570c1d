package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bulwark-ai/bulwark/guard"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/reqlog"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/telemetry"
	"github.com/bulwark-ai/bulwark/tenant"
)

// Guardrails (config models[].guardrails, package guard): once per client
// request, after its route is resolved and before grounding, the cache,
// admission and the attempt loop, the input chain of the alias (or of
// the request's tenant, when it has its own: guard.Policy.For) checks
// the request's messages. A block refuses the request with a *guard.Error
// (400 guardrail_blocked, naming the check and why, never the text); a
// mask rewrites the messages, in req.Messages and in req.Body, which the
// upstream gets; a log only counts. On a non-streamed answer the output
// chain runs the same way once the attempt loop succeeded, before the
// answer is cached: a blocked answer is refused (its usage is still
// billed: the upstream did answer), a masked one is rewritten in its
// body. A guard runs only on a success: it never turns a failure into one.
// Every finding counts in bulwark_guardrail_total{alias,check,stage,action}
// and travels in Outcome.Guardrails, hence in the request log's
// guardrails (for a streamed answer, found after Stream returned, in the
// metric and the span only). Every finding is also an event "guardrail"
// on the request span (bulwark.guardrail.check, .stage, .action: block,
// mask, log or skipped; never the text), and a block sets
// bulwark.guardrail.blocked on it. Streamed answers: guard_stream.go.
//
// Checks that call a service (classifier, bedrock) run within their
// rule's timeout inside the request's context. When one fails, its rule's
// on_error decides: open goes on (a Skipped finding, which the API names
// in X-Bulwark-Guardrail-Skipped), closed refuses with a
// *guard.UnavailableError (503 guardrail_unavailable); both count in
// bulwark_guardrail_errors_total{alias,check,stage,mode}. The classifier
// calls its alias through Chat, as the request's tenant, with a context
// marked so that the classifier's own call runs no guardrails (no
// recursion). A streamed request to an alias whose output chain calls a
// service is refused before anything is called (*StreamGuardError): such
// a check needs the whole answer, and a stream gives it away as it comes.

// unguarded marks the context of a classifier's call: its request runs
// no guardrails.
type unguarded struct{}

// guardsOn reports whether ctx's request runs guardrails.
func guardsOn(ctx context.Context) bool { return ctx.Value(unguarded{}) == nil }

// StreamGuardError is a streamed request to an alias whose output
// guardrails call a service, which cannot check a streamed answer.
type StreamGuardError struct {
	Checks []string
}

func (e *StreamGuardError) Error() string {
	return fmt.Sprintf("this model's output guardrails (%s) need the whole answer and cannot check a stream; send the request with stream: false",
		strings.Join(e.Checks, ", "))
}

// policyOf is the guardrail policy of rq on r: its tenant's, else the
// alias's; nil when none applies.
func policyOf(ctx context.Context, rq *request, r *route.Route) *guard.Policy {
	if r.Guard == nil || !guardsOn(ctx) {
		return nil
	}
	return r.Guard.For(rq.tenant)
}

// guardInput runs the input chain of rq on r on req.
func (g *Gateway) guardInput(ctx context.Context, rq *request, r *route.Route, req *llm.ChatRequest, out *Outcome) error {
	pol := policyOf(ctx, rq, r)
	if pol == nil {
		return nil
	}
	if rq.stream {
		if names := pol.Output.Remote(); len(names) > 0 {
			return &StreamGuardError{Checks: names}
		}
	}
	if pol.Input.Empty() {
		return nil
	}
	ts := make([]guard.Text, len(req.Messages))
	for i, m := range req.Messages {
		ts[i] = guard.Text{Role: m.Role, Content: m.Content}
	}
	masked, found, err := pol.Input.Run(ctx, g.guardEnv(rq), ts)
	g.noteGuard(ctx, rq, found, err, out)
	if err != nil {
		return err
	}
	if replaced(found) {
		return replaceInput(req, masked)
	}
	mask := maskerOf(pol.Input, found)
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

// guardAnswer runs the output chain of rq on r on resp; it returns the
// answer to give (resp, or a masked copy) or the error of a block (or of
// a check that failed closed) with a copy of resp that keeps only its
// usage, model and finish reasons.
func (g *Gateway) guardAnswer(ctx context.Context, rq *request, r *route.Route, resp *llm.ChatResponse, out *Outcome) (*llm.ChatResponse, error) {
	pol := policyOf(ctx, rq, r)
	if pol == nil || pol.Output.Empty() || resp == nil {
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
	masked, found, err := pol.Output.Run(ctx, g.guardEnv(rq), ts)
	g.noteGuard(ctx, rq, found, err, out)
	if err != nil {
		return &llm.ChatResponse{Model: resp.Model, FinishReasons: resp.FinishReasons, Usage: resp.Usage}, err
	}
	var b []byte
	if replaced(found) {
		b, err = replaceAnswer(resp.Body, masked)
	} else {
		mask := maskerOf(pol.Output, found)
		if mask == nil {
			return resp, nil
		}
		b, err = maskAnswer(resp.Body, mask)
	}
	if err != nil {
		return resp, fmt.Errorf("guard answer: %w", err)
	}
	m := *resp
	m.Body = b
	return &m, nil
}

// guardEnv is what the checks that call a service need for rq: the
// classifier's chat, through the gateway as rq's tenant, unguarded.
func (g *Gateway) guardEnv(rq *request) guard.Env {
	return guard.Env{Chat: func(ctx context.Context, alias string, msgs []guard.Text) (string, error) {
		wire := make([]map[string]string, len(msgs))
		lm := make([]llm.Message, len(msgs))
		for i, m := range msgs {
			wire[i] = map[string]string{"role": m.Role, "content": m.Content}
			lm[i] = llm.Message{Role: m.Role, Content: m.Content}
		}
		const maxTokens = 32 // a verdict and its categories
		body, err := json.Marshal(map[string]any{"model": alias, "messages": wire, "temperature": 0, "max_tokens": maxTokens})
		if err != nil {
			return "", err
		}
		req := &llm.ChatRequest{Model: alias, Messages: lm, MaxTokens: maxTokens, Body: body, RequestID: rq.requestID}
		resp, _, err := g.Chat(context.WithValue(ctx, unguarded{}, true), tenant.Principal{TenantID: rq.tenant}, req)
		if err != nil {
			return "", err
		}
		var ans struct {
			Choices []struct {
				Message struct {
					Content *string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(resp.Body, &ans); err != nil || len(ans.Choices) == 0 || ans.Choices[0].Message.Content == nil {
			return "", errors.New("the classifier's answer has no text")
		}
		return *ans.Choices[0].Message.Content, nil
	}}
}

// replaced reports whether a service returned the texts masked.
func replaced(found []guard.Finding) bool {
	return slices.ContainsFunc(found, func(f guard.Finding) bool { return f.Replaced })
}

// replaceInput puts the texts a chain left, one per message, in req's
// messages and body: a string content is replaced; in an array content,
// the first text part gets the whole text and the other text parts are
// emptied (the service masked the message's text whole), the other
// parts are kept.
func replaceInput(req *llm.ChatRequest, ts []guard.Text) error {
	if len(ts) != len(req.Messages) {
		return errors.New("guard request: masked texts do not match the messages")
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(req.Body, &body); err != nil {
		return fmt.Errorf("guard request: %w", err)
	}
	var wire []map[string]json.RawMessage
	if err := json.Unmarshal(body["messages"], &wire); err != nil || len(wire) != len(ts) {
		return errors.New("guard request: the body's messages do not match")
	}
	msgs := make([]llm.Message, len(req.Messages))
	copy(msgs, req.Messages)
	for i := range msgs {
		if ts[i].Content == msgs[i].Content {
			continue
		}
		msgs[i].Content = ts[i].Content
		c, err := replaceContent(wire[i]["content"], ts[i].Content)
		if err != nil {
			return fmt.Errorf("guard request: %w", err)
		}
		wire[i]["content"] = c
	}
	b, err := remarshal(body, "messages", wire)
	if err != nil {
		return fmt.Errorf("guard request: %w", err)
	}
	req.Messages, req.Body = msgs, b
	return nil
}

// replaceContent is a message content with its text replaced by s (see
// replaceInput).
func replaceContent(raw json.RawMessage, s string) (json.RawMessage, error) {
	var parts []map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &parts) != nil {
		return json.Marshal(s)
	}
	first := true
	for _, p := range parts {
		if _, ok := p["text"]; !ok {
			continue
		}
		t := ""
		if first {
			t, first = s, false
		}
		b, err := json.Marshal(t)
		if err != nil {
			return nil, err
		}
		p["text"] = b
	}
	if first { // no text part: the text goes in one
		b, _ := json.Marshal(s)
		parts = append(parts, map[string]json.RawMessage{"type": json.RawMessage(`"text"`), "text": b})
	}
	return json.Marshal(parts)
}

// replaceAnswer puts the texts a chain left, one per choice with content
// in order, in a chat.completion body.
func replaceAnswer(raw []byte, ts []guard.Text) ([]byte, error) {
	var body map[string]json.RawMessage
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, err
	}
	var choices []map[string]json.RawMessage
	if err := json.Unmarshal(body["choices"], &choices); err != nil {
		return nil, fmt.Errorf("choices: %w", err)
	}
	i := 0
	for _, ch := range choices {
		var msg map[string]json.RawMessage
		if err := json.Unmarshal(ch["message"], &msg); err != nil || msg == nil {
			continue
		}
		var c *string
		if json.Unmarshal(msg["content"], &c) != nil || c == nil {
			continue
		}
		if i >= len(ts) {
			return nil, errors.New("masked texts do not match the choices")
		}
		b, err := json.Marshal(ts[i].Content)
		if err != nil {
			return nil, err
		}
		i++
		msg["content"] = b
		if ch["message"], err = json.Marshal(msg); err != nil {
			return nil, err
		}
	}
	if i != len(ts) {
		return nil, errors.New("masked texts do not match the choices")
	}
	return remarshal(body, "choices", choices)
}

// noteGuard counts the findings, and a check that failed closed (err),
// adds each finding as an event to the request span in ctx, and adds the
// findings to the Outcome.
func (g *Gateway) noteGuard(ctx context.Context, rq *request, found []guard.Finding, err error, out *Outcome) {
	for _, f := range found {
		telemetry.AddGuardrail(ctx, f.Check, string(f.Stage), findingAction(f))
		if f.Skipped {
			g.metrics.RecordGuardrailError(rq.alias, f.Check, string(f.Stage), string(guard.Open))
			continue
		}
		g.metrics.RecordGuardrail(rq.alias, f.Check, string(f.Stage), string(f.Action))
	}
	var ue *guard.UnavailableError
	if errors.As(err, &ue) {
		g.metrics.RecordGuardrailError(rq.alias, ue.Check, string(ue.Stage), string(guard.Closed))
	}
	out.Guardrails = append(out.Guardrails, found...)
}

// actionSkipped is the action of a finding of a check that could not run
// and was skipped, in spans and in the request log.
const actionSkipped = "skipped"

// findingAction is f's action as spans and the request log name it:
// block, mask, log, or skipped.
func findingAction(f guard.Finding) string {
	if f.Skipped {
		return actionSkipped
	}
	return string(f.Action)
}

// guardrailRecord is the request log's account of the findings: at most
// reqlog.MaxGuardrails of them, in order, without text; nil when none.
func guardrailRecord(found []guard.Finding) []reqlog.Guardrail {
	if len(found) == 0 {
		return nil
	}
	r := make([]reqlog.Guardrail, 0, min(len(found), reqlog.MaxGuardrails))
	for _, f := range found {
		if len(r) == reqlog.MaxGuardrails {
			break
		}
		r = append(r, reqlog.Guardrail{Stage: string(f.Stage), Check: f.Check, Action: findingAction(f)})
	}
	return r
}

// GuardrailsSkipped names the checks that could not run and were
// skipped (their rules fail open), for the X-Bulwark-Guardrail-Skipped
// header; "" when none was.
func (o Outcome) GuardrailsSkipped() string {
	var names []string
	for _, f := range o.Guardrails {
		if f.Skipped && !slices.Contains(names, f.Check) {
			names = append(names, f.Check)
		}
	}
	return strings.Join(names, ",")
}

// HeaderGuardrailSkipped names the guardrail checks that could not run
// and were skipped because their rules fail open.
const HeaderGuardrailSkipped = "X-Bulwark-Guardrail-Skipped"

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
