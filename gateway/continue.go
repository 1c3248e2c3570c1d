package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/telemetry"
)

// Continuing a broken stream.
//
// A stream whose first content reached the client may still break: the
// connection is cut, it stalls past the idle timeout, it sends an event
// that is not a chunk, or an error event. With its alias's stream_recovery
// in continue mode, such a break of a listed kind is not the end: the
// relay hands it back to the request's attempt loop, which decides on it
// as on any failed attempt (retry the same target after backoff, within
// its attempts and the retry budget, or fail over in the usual order) and
// calls only targets that continue a prefix (route.Target.CanContinue).
// The call asks for the rest of the answer: the client's messages
// untouched, plus the text the client has as a trailing assistant message
// (llm.ChatRequest.Continue). No instruction is added to any prompt.
//
// The client sees one stream: the continuation's role chunk is dropped,
// its chunks carry the id, model, created and system_fingerprint the
// client saw, and its finish chunk and usage chunk carry a "bulwark"
// object listing the continuations. Usage is the sum of the calls, each
// billed by the billing rule (usage/doc.go, bill.go): the usage it
// reported, or, for a call that broke without reporting any (the broken
// call, a continuation that broke again), the tokens Bulwark counts of
// its prompt and of the text the client received from it; the usage
// record then says its usage was counted. Each continuation is counted
// in bulwark_stream_continuations_total by its outcome, and is an event
// on the request's span. A stream that carried
// anything but the text of one choice (tool or function calls, refusals,
// reasoning, several choices) is never continued. A continuation that
// fails ends the stream with an error event naming both failures; a target
// that answers a prefill with 400 is remembered as unable
// (route.Health.RefusePrefill).

// Continuation is one continuation of a stream that broke after its first
// content reached the client.
type Continuation struct {
	// Target is the provider/model that continued the stream.
	Target string `json:"target"`
	// AfterChars is the characters of text the client had at the break.
	AfterChars int `json:"after_chars"`
	// Reason is the break: cut, idle, malformed or error_event.
	Reason string `json:"reason"`
}

// loop is the attempt loop's state (run), kept in its request so that a
// broken stream's continuation resumes the loop rather than starting
// another: the targets excluded and tried, the aliases queued, and what
// to try next.
type loop struct {
	queue    []*route.Route
	queued   map[string]bool
	excluded map[string]bool
	tries    map[string]int
	i        int
	// retry, wait and last are where a resumed loop starts: the target to
	// try again and after how long, and the failure it resumes after.
	retry *route.Target
	wait  time.Duration
	last  *llm.Error
	// continuing: the loop serves a continuation; only targets that
	// continue a prefix are tried.
	continuing bool
	resumed    bool
	// rerank: the loop serves a rerank call; only targets whose provider
	// reranks are tried (rerank.go).
	rerank bool
}

// loopFor returns the state of the attempt loop starting on route r: a new
// one, or the one a continuation resumes.
func (rq *request) loopFor(r *route.Route) *loop {
	if st := rq.loop; st != nil && st.resumed {
		st.resumed = false
		return st
	}
	st := &loop{queue: []*route.Route{r}, queued: map[string]bool{r.Alias: true}, excluded: map[string]bool{}, tries: map[string]int{},
		rerank: rq.op == telemetry.OperationRerank}
	rq.loop = st
	return st
}

// skip reports whether the loop may not call t.
func (st *loop) skip(t *route.Target) bool {
	return (st.continuing && !t.CanContinue()) || (st.rerank && !reranks(t))
}

// resume prepares the loop to go on after the late failure e of target t,
// whose stream broke: the loop's rule for a failure of e's kind decides
// whether t is tried again (after backoff) or excluded.
func (st *loop) resume(ctx context.Context, rq *request, t *route.Target, e *llm.Error) {
	st.resumed, st.continuing, st.last = true, true, e
	st.retry, st.wait = nil, 0
	switch e.Kind {
	case llm.KindTimeout, llm.KindAuth, llm.KindNotFound:
		st.excluded[t.Name()] = true
		return
	}
	if !t.CanContinue() || st.i >= len(st.queue) {
		st.excluded[t.Name()] = true
		return
	}
	w, ok := rq.g.retryWait(ctx, rq, st.queue[st.i], t, e, st.tries[t.Name()])
	if !ok {
		st.excluded[t.Name()] = true
		return
	}
	st.retry, st.wait = t, w
}

// Outcomes of a continuation (bulwark_stream_continuations_total).
const (
	// The continuation's stream ended properly.
	contCompleted = "completed"
	// It broke too (and may have been continued in turn).
	contBroken = "broken"
	// The client closed the stream during it.
	contCanceled = "canceled"
	// No target could start it; prefill_refused: the last one tried
	// refused the prefill (400).
	contFailed         = "failed"
	contPrefillRefused = "prefill_refused"
)

// recovery continues a stream that breaks (see above). It is used by the
// relay's goroutine.
type recovery struct {
	ctx context.Context // the stream's, bounded by the route's total timeout
	tbl *route.Table
	r   *route.Route // the route the client asked for
	req *llm.ChatRequest
	pol config.StreamRecovery
	// bill is the relay's: the usage of the stream's calls so far.
	bill *bill

	// What the client saw: the first choice's text, and the first chunk's
	// id, model, created and system_fingerprint.
	text                    []byte
	id, model, created, fpr json.RawMessage
	// other: the stream carried something else than the text of one
	// choice; it is not continued.
	other bool

	done []Continuation
	// open: the last continuation's outcome is not recorded yet.
	open bool
	// over is set once a continuation failed: the stream's end is final.
	over bool
}

func newRecovery(ctx context.Context, tbl *route.Table, r *route.Route, req *llm.ChatRequest, b *bill) *recovery {
	return &recovery{ctx: ctx, tbl: tbl, r: r, req: req, pol: r.Policy.Recovery, bill: b}
}

// chunkView is what recovery reads of a chunk.
type chunkView struct {
	ID      json.RawMessage `json:"id"`
	Model   json.RawMessage `json:"model"`
	Created json.RawMessage `json:"created"`
	FPR     json.RawMessage `json:"system_fingerprint"`
	Choices []struct {
		Index        int             `json:"index"`
		Delta        deltaView       `json:"delta"`
		FinishReason json.RawMessage `json:"finish_reason"`
	} `json:"choices"`
}

type deltaView struct {
	Role             json.RawMessage `json:"role"`
	Content          json.RawMessage `json:"content"`
	Refusal          json.RawMessage `json:"refusal"`
	ToolCalls        json.RawMessage `json:"tool_calls"`
	FunctionCall     json.RawMessage `json:"function_call"`
	Audio            json.RawMessage `json:"audio"`
	ReasoningContent json.RawMessage `json:"reasoning_content"`
	Reasoning        json.RawMessage `json:"reasoning"`
}

// present reports whether raw is a JSON value other than null, "", [] and
// {}.
func present(raw json.RawMessage) bool {
	switch string(bytes.TrimSpace(raw)) {
	case "", "null", `""`, "[]", "{}":
		return false
	}
	return true
}

// deliver notes what chunk c says and returns the chunk to relay: c
// itself until the stream is continued, then c as the client's stream
// goes on (nil for a continuation's role chunk).
func (rc *recovery) deliver(c *llm.Chunk) *llm.Chunk {
	if len(rc.done) == 0 && (rc.other || rc.over) {
		return c // it can no longer be continued: nothing to note
	}
	var v chunkView
	if json.Unmarshal(c.Data, &v) != nil {
		rc.other = true
		return c
	}
	if rc.id == nil {
		rc.id, rc.model, rc.created, rc.fpr = v.ID, v.Model, v.Created, v.FPR
	}
	roleOnly, finish := len(v.Choices) > 0, false
	for _, ch := range v.Choices {
		d := &ch.Delta
		if ch.Index != 0 || present(d.Refusal) || present(d.ToolCalls) || present(d.FunctionCall) ||
			present(d.Audio) || present(d.ReasoningContent) || present(d.Reasoning) {
			rc.other = true
		}
		if present(ch.FinishReason) {
			finish = true
		}
		if present(d.Content) {
			var s string
			if json.Unmarshal(d.Content, &s) != nil {
				rc.other = true // content that is not text
			}
			rc.text = append(rc.text, s...)
		}
		if !present(d.Role) || present(d.Content) || present(ch.FinishReason) {
			roleOnly = false
		}
	}
	if len(rc.done) == 0 {
		return c
	}
	if roleOnly && c.Usage == nil {
		return nil
	}
	set := []member{{"id", rc.id}, {"model", rc.model}, {"created", rc.created}, {"system_fingerprint", rc.fpr}}
	out := *c
	if c.Usage != nil { // the calls before this one, and this one's
		sum := sumUsage(append(slices.Clip(rc.bill.calls), callUsage{usage: *c.Usage}))
		out.Usage = &sum
		u, _ := json.Marshal(sum)
		set = append(set, member{"usage", u})
	}
	if finish || c.Usage != nil {
		b, _ := json.Marshal(struct {
			Continued     bool           `json:"continued"`
			Continuations []Continuation `json:"continuations"`
		}{true, rc.done})
		set = append(set, member{"bulwark", b})
	}
	if data, err := setMembers(c.Data, set); err == nil {
		out.Data = data
	}
	return &out
}

// record counts continuation k in bulwark_stream_continuations_total with
// its outcome.
func (rc *recovery) record(rq *request, k Continuation, outcome string) {
	rq.g.metrics.RecordContinuation(telemetry.ContinuationRecord{Alias: rq.alias, Target: k.Target, Reason: k.Reason, Outcome: outcome})
}

// settle records the outcome of the last continuation, if it is not
// recorded yet.
func (rc *recovery) settle(rq *request, outcome string) {
	if rc.open && rq != nil {
		rc.open = false
		rc.record(rq, rc.done[len(rc.done)-1], outcome)
	}
}

// ended records the outcome of the last continuation once the stream
// ended: properly (broken nil), closed by the client, or broken.
func (rc *recovery) ended(r *relay, broken error) {
	if r.watch == nil {
		return
	}
	outcome := contCompleted
	var le *llm.Error
	switch {
	case errors.As(broken, &le) && le.Kind == llm.KindCanceled:
		outcome = contCanceled
	case broken != nil:
		outcome = contBroken
	}
	rc.settle(r.watch.rq, outcome)
}

// may reports whether a break e may be continued.
func (rc *recovery) may(e *llm.Error) bool {
	return !rc.over && !rc.other && rc.req.N <= 1 && rc.pol.Continues(e.Break.String()) &&
		len(rc.done) < rc.pol.Max() && e.Kind.Retryable() && rc.ctx.Err() == nil
}

// continueAfter continues the stream after its upstream ended with err. It
// returns nil once a continuation is under way, else the error that ends
// the stream: err itself when the stream may not be continued, or one
// naming both failures when the continuation failed.
func (r *relay) continueAfter(err error) error {
	rc, w := r.rec, r.watch
	var e *llm.Error
	if !errors.As(err, &e) || w == nil || w.rq == nil || w.rq.loop == nil || !rc.may(e) {
		return err
	}
	rq := w.rq
	// The broken call: its attempt ends with the break, it is billed by
	// the billing rule (bill.go), and it is released. A continuation that
	// broke is done with.
	w.att.finish(time.Since(w.attStart), w.ans, e)
	brokenAttempt(&w.out, r.t, e)
	r.bill.end(true)
	rc.settle(rq, contBroken)
	from := r.t.Name()
	if r.s != nil {
		_ = r.s.Close()
	}
	r.cancel()

	prefill := string(rc.text)
	call := *rc.req
	call.Messages = append(slices.Clip(rc.req.Messages), llm.Message{Role: "assistant", Content: prefill})
	call.Continue = true
	if call.MaxTokens > 0 {
		// The client's max_tokens bounds the whole answer: the
		// continuation gets what the calls so far left of it.
		if call.MaxTokens -= rc.bill.sum().CompletionTokens; call.MaxTokens < 1 {
			return err // the answer already has all the tokens it may
		}
	}
	rq.loop.resume(rc.ctx, rq, r.t, e)
	upstream := w.out.Upstream
	nr, cerr := run(rc.ctx, rq, rc.tbl, rc.r, &w.out, false,
		func(ctx context.Context, cr *route.Route, t *route.Target) (*relay, error) {
			rl, err := openStream(ctx, cr, t, &call, time.Time{})
			if le := (*llm.Error)(nil); errors.As(err, &le) && le.Status == 400 && le.Kind == llm.KindBadRequest {
				t.Health.RefusePrefill() // it does not take a prefill: never send it one again
			}
			return rl, err
		})
	w.out.Upstream = upstream
	chars := utf8.RuneCount(rc.text)
	if cerr != nil {
		rc.over = true
		k, outcome := Continuation{AfterChars: chars, Reason: e.Break.String()}, contFailed
		if n := len(w.out.Tried); n > 0 && w.out.Tried[n-1].Continues {
			k.Target = w.out.Tried[n-1].Target
		}
		if le := (*llm.Error)(nil); errors.As(cerr, &le) && le.Status == 400 && le.Kind == llm.KindBadRequest {
			outcome = contPrefillRefused
		}
		rc.record(rq, k, outcome)
		return bothFailed(e, chars, cerr)
	}
	// The continuation's upstream becomes the stream's.
	r.s, r.cancel, r.pending, r.t, r.err, r.idle = nr.s, nr.cancel, nr.pending, nr.t, nr.err, nr.idle
	r.idleTimer = nil
	r.stalled.Store(false)
	w.att, w.attStart = nr.watch.att, nr.watch.attStart
	r.bill.start(nr.bill.t, nr.bill.req)
	k := Continuation{Target: nr.t.Name(), AfterChars: chars, Reason: e.Break.String()}
	rc.done, rc.open = append(rc.done, k), true
	w.out.Continuations = slices.Clone(rc.done)
	telemetry.AddContinuation(w.ctx, telemetry.ContinuationEvent{From: from, To: k.Target, Reason: k.Reason, AfterChars: k.AfterChars})
	return nil
}

// brokenAttempt records on its attempt that the stream of t, which had
// succeeded, broke with e.
func brokenAttempt(out *Outcome, t *route.Target, e *llm.Error) {
	for i := len(out.Tried) - 1; i >= 0; i-- {
		if a := &out.Tried[i]; a.Target == t.Name() && a.Err == nil {
			a.Err, a.Kind, a.Status = e, e.Kind, e.Status
			return
		}
	}
}

// bothFailed is the end of a stream that broke (e, after chars characters)
// and whose continuation failed too (cont, the attempt loop's error).
func bothFailed(e *llm.Error, chars int, cont error) *llm.Error {
	msg := cont.Error()
	var le *llm.Error
	if errors.As(cont, &le) && le.Message != "" {
		msg = le.Message
	}
	return &llm.Error{
		Kind: e.Kind, Break: e.Break, Provider: e.Provider, Model: e.Model, Err: cont,
		Message: fmt.Sprintf("the stream broke after %d characters (%s) and could not be continued: %s", chars, e.Error(), msg),
	}
}

// member is one top-level member of a JSON object.
type member struct {
	key   string
	value json.RawMessage
}

// setMembers returns the JSON object data with each member of set
// replacing the member of that key (in its place) or appended; a member
// with a nil value is left as it is.
func setMembers(data []byte, set []member) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	done := make([]bool, len(set))
	out := make([]byte, 0, len(data)+128)
	out = append(out, '{')
	put := func(k string, v json.RawMessage) {
		if len(out) > 1 {
			out = append(out, ',')
		}
		kb, _ := json.Marshal(k)
		out = append(append(append(out, kb...), ':'), v...)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		for i, m := range set {
			if m.key == k && m.value != nil {
				v, done[i] = m.value, true
			}
		}
		put(k, v)
	}
	for i, m := range set {
		if !done[i] && m.value != nil {
			put(m.key, m.value)
		}
	}
	return append(out, '}'), nil
}
