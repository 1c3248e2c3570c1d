package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/reqlog"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/telemetry"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/tools"
)

// Tool governance (package tools; config models[].tools and
// models[].response_format; the key's and tenant's tools allowlists):
// once per client request, after the input guardrails and before
// grounding, the cache and the attempt loop, the tools the request
// declares go through the intersection of the alias's, the tenant's and
// the key's allowlists: those not allowed are removed from req.Body, which
// every provider translates from, or the request is refused (400
// tool_not_allowed). The cache key is taken after, so a key that may use
// fewer tools never gets an answer made with more.
//
// Once the attempt loop succeeded on a non-streamed answer, and before the
// output guardrails and the cache, the answer's tool calls are checked (a
// tool the request did not declare or may not use, arguments that are not
// JSON or do not match the declared schema, more than max_calls), and so
// is its content against a json_schema response_format when the alias
// validates it. An answer that fails gets, unless the alias says
// on_invalid: error, one re-ask through the same attempt loop: the
// conversation with the answer and what was wrong with it appended. If it
// fails again the request fails with a *tools.Error (502, the code of the
// first violation); if the re-ask's attempts fail, with their error. A
// re-ask is never made for an answer of more than one choice. The usage of
// both answers is billed. Every tool call is a span ("execute_tool
// {name}", a child of the request span) and counts in
// bulwark_tool_calls_total{alias,tool,outcome}.
//
// Streamed answers (toolStream): a stream cannot be re-asked once its
// first bytes reached the client, so checks end it instead. Tool-call
// deltas are held back, with everything after them, until their choice
// finishes; the calls are then checked, and released if they pass. If they
// do not, the stream ends with the *tools.Error as an error event, and the
// client never sees the calls. With a validated response_format, each
// choice's text streams as it comes but its finish chunk is held until the
// text is checked: an invalid structured output ends in an error event
// rather than a clean finish.

// toolCheck is the tool governance of one client request.
type toolCheck struct {
	pol   *tools.Policy
	allow tools.Allowlists
	req   *tools.Request
	// report is the request's Outcome.Tools, which a stream's checks
	// update (the request log reads it when the stream ends).
	report *ToolReport
}

// ToolReport is what tool governance did to a request (Outcome.Tools).
type ToolReport struct {
	// Removed are the declared tools taken out of the request.
	Removed []string
	// Refused is the code of a refused request (tool_not_allowed).
	Refused string
	// Calls is the tool calls of the answer returned (or rejected).
	Calls int
	// Violation is the code of the first violation of the first answer
	// that broke the policy; empty when none did.
	Violation string
	// Reasked reports whether a re-ask was made, Failed whether the
	// request failed for the policy (after it, or without one).
	Reasked, Failed bool
}

// record is the report as the request log keeps it (nil for none): at
// most reqlog.MaxToolNames removed tools, those of a name the log can
// hold.
func (tr *ToolReport) record() *reqlog.Tools {
	if tr == nil {
		return nil
	}
	r := &reqlog.Tools{Refused: tr.Refused, Calls: tr.Calls, Invalid: tr.Violation, Reasked: tr.Reasked, Failed: tr.Failed}
	for _, n := range tr.Removed {
		if len(r.Removed) < reqlog.MaxToolNames && len(n) <= reqlog.MaxField && utf8.ValidString(n) && !strings.ContainsRune(n, 0) {
			r.Removed = append(r.Removed, n)
		}
	}
	return r
}

// governedByKeys is the policy of an alias with no tools section when
// the key or tenant sets an allowlist: remove, and re-ask once.
var governedByKeys = tools.Policy{Tools: true, Reask: true}

// governTools applies the request's allowlists to req, rewriting
// req.Body, or refuses it. It returns nil when nothing governs the
// request.
func (g *Gateway) governTools(rq *request, r *route.Route, p tenant.Principal, req *llm.ChatRequest, out *Outcome) (*toolCheck, error) {
	pol := r.Tools
	allow := tools.Allowlists{nil, p.TenantTools, p.KeyTools}
	if pol != nil {
		allow[0] = pol.Allow
	}
	switch {
	case pol == nil && !allow.Set():
		return nil, nil
	case pol == nil:
		pol = &governedByKeys
	case !pol.Tools && allow.Set():
		cp := *pol
		cp.Tools, cp.Reask = true, true
		pol = &cp
	}
	body, tr, err := tools.Govern(req.Body, allow, pol.Refuse)
	if err != nil {
		var te *tools.Error
		if errors.As(err, &te) {
			out.Tools = &ToolReport{Refused: te.Code}
			if te.Tool != "" {
				g.metrics.RecordToolGoverned(rq.alias, te.Tool, "refused")
			}
		}
		return nil, err
	}
	for _, name := range tr.Removed {
		g.metrics.RecordToolGoverned(rq.alias, name, "removed")
	}
	req.Body = body
	out.Tools = &ToolReport{Removed: tr.Removed}
	return &toolCheck{pol: pol, allow: allow, req: tr, report: out.Tools}, nil
}

// check reads an answer and returns it with how it breaks the policy.
func (tc *toolCheck) check(body []byte) (*tools.Answer, []tools.Violation) {
	a, err := tools.Read(body)
	if err != nil {
		return &tools.Answer{}, nil // not an answer the policy can read; the API relays it as it is
	}
	var vs []tools.Violation
	if tc.pol.Tools {
		vs = tc.pol.CheckCalls(tc.req, a.Calls)
	}
	if tc.pol.Format {
		vs = append(vs, tc.req.CheckFormat(a)...)
	}
	return a, vs
}

// reaskable reports whether violations vs get a re-ask.
func (tc *toolCheck) reaskable(vs []tools.Violation, a *tools.Answer) bool {
	if a.Choices != 1 {
		return false
	}
	if vs[0].Code == tools.CodeFormatInvalid {
		return tc.pol.FormatReask
	}
	return tc.pol.Reask
}

// checkAnswer checks a non-streamed answer and makes its one re-ask;
// ctx is the request's (its span is the tool calls' parent), actx the
// attempt loop's.
func (g *Gateway) checkAnswer(ctx, actx context.Context, rq *request, tbl *route.Table, r *route.Route, req *llm.ChatRequest, tc *toolCheck, resp *llm.ChatResponse, out *Outcome) (*llm.ChatResponse, error) {
	if tc == nil || resp == nil {
		return resp, nil
	}
	a, vs := tc.check(resp.Body)
	g.noteCalls(ctx, rq, a, vs, false, out)
	if len(vs) == 0 {
		return resp, nil
	}
	out.Tools.Violation = vs[0].Code
	if !tc.reaskable(vs, a) {
		g.metrics.RecordToolReask(rq.alias, vs[0].Code, "error")
		out.Tools.Failed = true
		return usageOnly(resp, resp.Usage), tools.AnswerError(vs, false)
	}
	again, err := tools.Reask(req, a, vs)
	if err != nil {
		out.Tools.Failed = true
		return usageOnly(resp, resp.Usage), tools.AnswerError(vs, false)
	}
	out.Tools.Reasked = true
	g.metrics.RecordToolReask(rq.alias, vs[0].Code, "reasked")
	// The re-ask is a call of its own: it has the route's max_attempts,
	// and its attempts join the request's.
	var ro Outcome
	second, err := run(actx, rq, tbl, r, &ro, false,
		func(ctx context.Context, cr *route.Route, t *route.Target) (*llm.ChatResponse, error) {
			ctx, cancel := withAttempt(ctx, cr)
			defer cancel()
			call := *again
			call.Model = t.Model
			return t.Client.Chat(ctx, &call)
		})
	out.Tried = append(out.Tried, ro.Tried...)
	out.Attempts, out.Upstream = len(out.Tried), out.Upstream+ro.Upstream
	if ro.Target != nil {
		out.Target = ro.Target
	}
	if err != nil { // the upstream's failure stays one; the first answer is still billed
		g.metrics.RecordToolReask(rq.alias, vs[0].Code, "reask_failed")
		return usageOnly(resp, resp.Usage), err
	}
	second.Usage = addUsage(resp.Usage, second.Usage)
	if b, err := withUsage(second.Body, second.Usage); err == nil {
		second.Body = b // the client sees what it is billed: both calls
	}
	a, vs = tc.check(second.Body)
	g.noteCalls(ctx, rq, a, vs, true, out)
	if len(vs) > 0 {
		g.metrics.RecordToolReask(rq.alias, vs[0].Code, "reask_failed")
		out.Tools.Failed = true
		return usageOnly(second, second.Usage), tools.AnswerError(vs, true)
	}
	g.metrics.RecordToolReask(rq.alias, out.Tools.Violation, "reask_ok")
	return second, nil
}

// noteCalls records each tool call of an answer: its span, its count by
// outcome, and the report's count.
func (g *Gateway) noteCalls(ctx context.Context, rq *request, a *tools.Answer, vs []tools.Violation, reasked bool, out *Outcome) {
	if out.Tools != nil {
		out.Tools.Calls = len(a.Calls)
	}
	for _, c := range a.Calls {
		outcome, reason := "ok", ""
		for _, v := range vs {
			if v.Call.Name != "" && v.Call.Index == c.Index {
				outcome, reason = outcomeOf(v.Code), v.Reason
				break
			}
		}
		g.metrics.RecordToolCall(rq.alias, c.Name, outcome)
		telemetry.AddToolCall(ctx, telemetry.ToolCallInfo{Name: c.Name, ID: c.ID, Outcome: outcome, Reason: reason, Reasked: reasked})
	}
}

// outcomeOf is the outcome label of a violation's code.
func outcomeOf(code string) string {
	switch code {
	case tools.CodeCallNotAllowed:
		return "not_allowed"
	case tools.CodeTooManyCalls:
		return "exceeded"
	}
	return "invalid"
}

// usageOnly is a copy of resp that keeps only its model, finish reasons
// and the usage u, for the billing of an answer the client does not get.
func usageOnly(resp *llm.ChatResponse, u llm.Usage) *llm.ChatResponse {
	return &llm.ChatResponse{Model: resp.Model, FinishReasons: resp.FinishReasons, Usage: u}
}

// withUsage returns a chat.completion body whose usage says u's tokens;
// the rest of the usage object (its details) is kept.
func withUsage(body []byte, u llm.Usage) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, err
	}
	usage := map[string]json.RawMessage{}
	if raw, ok := top["usage"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &usage); err != nil {
			return nil, err
		}
	}
	for k, v := range map[string]int{"prompt_tokens": u.PromptTokens, "completion_tokens": u.CompletionTokens,
		"total_tokens": u.PromptTokens + u.CompletionTokens} {
		usage[k] = json.RawMessage(strconv.Itoa(v))
	}
	b, err := json.Marshal(usage)
	if err != nil {
		return nil, err
	}
	top["usage"] = b
	return json.Marshal(top)
}

func addUsage(a, b llm.Usage) llm.Usage {
	return llm.Usage{
		PromptTokens:     a.PromptTokens + b.PromptTokens,
		CompletionTokens: a.CompletionTokens + b.CompletionTokens,
		TotalTokens:      a.TotalTokens + b.TotalTokens,
		CachedTokens:     a.CachedTokens + b.CachedTokens,
		CacheWriteTokens: a.CacheWriteTokens + b.CacheWriteTokens,
	}
}
