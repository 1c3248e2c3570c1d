package gateway

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bulwark-ai/bulwark/guard"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/telemetry"
)

// Guardrails on streamed answers: the pii and denied_terms rules of the
// alias's output chain run on each choice's text as it streams, without
// holding the whole answer. Each choice keeps back a window of its latest
// text (streamWindow bytes, or the longest denied term) so that what a
// check finds across chunk boundaries is masked whole; text is released
// up to a white space that no match spans (checked by masking the text
// before and after the cut apart and whole), and the rest is flushed with
// the choice's finish_reason. A block ends the stream with the
// *guard.Error; mask and log count once per rule and stream. injection
// and max_chars rules are not applied to streams yet. Rules whose check
// calls a service (classifier, bedrock) are never skipped here: a stream
// to an alias (or tenant) with one on output is refused before it starts
// (guardInput's *StreamGuardError).

// streamWindow is the text each choice keeps back, in bytes: more than
// the longest match of package redact (an IBAN in groups, an API key).
const streamWindow = 96

// maxPending bounds the text a choice may keep back while no safe cut is
// found; past it the text is released masked as it is.
const maxPending = 4096

// guardStream wraps s with r's output chain, or returns s when r has no
// streamable output rule; ctx is the request's, whose span gets the
// findings' events.
func (g *Gateway) guardStream(ctx context.Context, rq *request, r *route.Route, s llm.Stream) llm.Stream {
	pol := r.Guard.For(rq.tenant)
	if pol == nil || pol.Output.Empty() {
		return s
	}
	c := &guard.Chain{Stage: guard.Output}
	window := streamWindow
	for _, rule := range pol.Output.Rules {
		if _, ok := rule.Check.(guard.Masker); ok {
			c.Rules = append(c.Rules, rule)
			if d, ok := rule.Check.(*guard.DeniedTerms); ok {
				window = max(window, d.Longest()+1)
			}
		}
	}
	if len(c.Rules) == 0 {
		return s
	}
	return &guardedStream{Stream: s, ctx: ctx, g: g, rq: rq, chain: c, window: window, pending: map[int]string{}, noted: map[string]bool{}}
}

// guardedStream is a stream whose choices' text goes through a chain. It
// is used by one goroutine, as streams are.
type guardedStream struct {
	llm.Stream
	ctx    context.Context // the request's, for its span
	g      *Gateway
	rq     *request
	chain  *guard.Chain
	window int
	// pending is each choice's text not yet released.
	pending map[int]string
	noted   map[string]bool // the rules already counted
	last    map[string]json.RawMessage
	err     error
}

func (s *guardedStream) Recv() (*llm.Chunk, error) {
	if s.err != nil {
		return nil, s.err
	}
	ch, err := s.Stream.Recv()
	if err == io.EOF && s.held() {
		// Ended without a finish_reason: release what is held first.
		if c := s.flushAll(); c != nil {
			return c, nil
		}
	}
	if err != nil || !ch.HasContent {
		return ch, err
	}
	var body map[string]json.RawMessage
	if json.Unmarshal(ch.Data, &body) != nil {
		return ch, nil
	}
	var choices []map[string]json.RawMessage
	if json.Unmarshal(body["choices"], &choices) != nil {
		return ch, nil
	}
	s.last = body
	changed := false
	for _, c := range choices {
		var idx int
		_ = json.Unmarshal(c["index"], &idx)
		var delta map[string]json.RawMessage
		if json.Unmarshal(c["delta"], &delta) != nil || delta == nil {
			continue
		}
		var text string
		hasText := json.Unmarshal(delta["content"], &text) == nil && delta["content"] != nil
		finished := len(c["finish_reason"]) > 0 && string(c["finish_reason"]) != "null"
		if !hasText && !finished {
			continue
		}
		pending := s.pending[idx] + text
		if err := s.check(pending); err != nil {
			s.err = err
			return nil, err
		}
		var out string
		if finished {
			out, s.pending[idx] = s.mask(pending), ""
		} else {
			out, s.pending[idx] = s.release(pending)
		}
		if !hasText && out == "" {
			continue
		}
		delta["content"], _ = json.Marshal(out)
		c["delta"], _ = json.Marshal(delta)
		changed = true
	}
	if !changed {
		return ch, nil
	}
	body["choices"], _ = json.Marshal(choices)
	out := *ch
	out.Data, _ = json.Marshal(body)
	return &out, nil
}

// check runs the chain on a choice's pending text: a block ends the
// stream; every rule that found something is counted once.
func (s *guardedStream) check(text string) error {
	// The chain has only local rules, which call nothing.
	_, found, err := s.chain.Run(context.Background(), guard.Env{}, []guard.Text{{Role: "assistant", Content: text}})
	for _, f := range found {
		key := f.Check + "/" + string(f.Action)
		if !s.noted[key] {
			s.noted[key] = true
			s.g.metrics.RecordGuardrail(s.rq.alias, f.Check, string(f.Stage), string(f.Action))
			telemetry.AddGuardrail(s.ctx, f.Check, string(f.Stage), findingAction(f))
		}
	}
	return err
}

// mask applies the chain's Mask rules to s.
func (s *guardedStream) mask(text string) string {
	for _, r := range s.chain.Rules {
		if m, ok := r.Check.(guard.Masker); ok && r.Action == guard.Mask {
			text = m.Mask(text)
		}
	}
	return text
}

// release returns the masked text of pending that can go now and the
// text to keep back: everything up to the last white space (else
// character boundary) at least the window before its end that no match
// spans.
func (s *guardedStream) release(pending string) (out, keep string) {
	if len(pending) <= s.window {
		return "", pending
	}
	whole := s.mask(pending)
	limit := len(pending) - s.window
	for tries := 0; tries < 8 && limit > 0; tries++ {
		cut := strings.LastIndexFunc(pending[:limit], unicode.IsSpace)
		if cut >= 0 {
			_, size := utf8.DecodeRuneInString(pending[cut:])
			cut += size // the space goes with the text before it
		} else {
			// No white space (a language written without, a long
			// token): any character boundary will do if no match spans it.
			cut = limit
			for cut > 0 && !utf8.RuneStart(pending[cut]) {
				cut--
			}
			if cut == 0 {
				break
			}
		}
		head := s.mask(pending[:cut])
		if strings.HasPrefix(whole, head) && whole[len(head):] == s.mask(pending[cut:]) {
			return head, pending[cut:]
		}
		limit = cut - 1
	}
	if len(pending) > maxPending {
		return whole, ""
	}
	return "", pending
}

func (s *guardedStream) held() bool {
	for _, p := range s.pending {
		if p != "" {
			return true
		}
	}
	return false
}

// flushAll makes a chunk of the text every choice holds, masked, on the
// model of the last chunk with content; nil when there is none.
func (s *guardedStream) flushAll() *llm.Chunk {
	if s.last == nil {
		return nil
	}
	var choices []map[string]any
	for idx, p := range s.pending {
		if p == "" {
			continue
		}
		choices = append(choices, map[string]any{"index": idx, "delta": map[string]any{"content": s.mask(p)}, "finish_reason": nil})
		s.pending[idx] = ""
	}
	body := map[string]json.RawMessage{}
	for k, v := range s.last {
		body[k] = v
	}
	body["choices"], _ = json.Marshal(choices)
	data, err := json.Marshal(body)
	if err != nil {
		return nil
	}
	return &llm.Chunk{Data: data, HasContent: true}
}
