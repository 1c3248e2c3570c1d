package chaos_test

import (
	"strings"
	"testing"
	"testing/synctest"

	"go.opentelemetry.io/otel/attribute"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/telemetry"
	"github.com/bulwark-ai/bulwark/tokens"
	"github.com/bulwark-ai/bulwark/usage"
)

// Prices of continued's targets: whole micro-dollars per token, so that
// every cost below is exact.
const (
	aIn, aOut = 1_000, 2_000 // nano-dollars per token
	bIn, bOut = 3_000, 30_000
)

// billed is continued's env with a ledger and a request log, and prices
// for both targets.
func billed(t *testing.T, yaml string) (*env, *ledger) {
	t.Helper()
	e := newEnv(t, yaml)
	l := &ledger{}
	e.gw.SetUsage(l)
	e.gw.SetRequestLog(requestLog{l}, 0)
	prices, err := usage.NewPrices(map[string]usage.Price{"a/m": {Input: 1, Output: 2}, "b/m": {Input: 3, Output: 30}})
	if err != nil {
		t.Fatal(err)
	}
	e.gw.SetPrices(prices)
	return e, l
}

// only returns the one usage record and request log record of l.
func (l *ledger) only(t *testing.T) (usage.Record, bool) {
	t.Helper()
	if len(l.recs) != 1 || len(l.logs) != 1 {
		t.Fatalf("%d usage records, %d request log records; want one each", len(l.recs), len(l.logs))
	}
	r, g := l.recs[0], l.logs[0]
	if g.PromptTokens != r.PromptTokens || g.CompletionTokens != r.CompletionTokens || g.UsageCounted != r.UsageCounted {
		t.Errorf("request log record says %d+%d tokens (counted %v), the usage record %d+%d (counted %v)",
			g.PromptTokens, g.CompletionTokens, g.UsageCounted, r.PromptTokens, r.CompletionTokens, r.UsageCounted)
	}
	return r, r.UsageCounted
}

// counted is what Bulwark counts of a call that broke: its prompt (the
// client's message, then the text so far as the assistant's, if any) and
// the text the client received from it.
func countedCall(prefill, sent string) (prompt, completion int64) {
	req := &llm.ChatRequest{Messages: []llm.Message{{Role: "user", Content: "hello there"}}}
	if prefill != "" {
		req.Messages = append(req.Messages, llm.Message{Role: "assistant", Content: prefill})
	}
	n := tokens.For("m")
	return int64(n.Chat(req).Tokens), int64(n.Text(sent))
}

// TestBrokenStreamIsBilledForCountedTokens is case (a) of the billing
// rule: a stream that broke after its first content, without stream
// recovery and without a usage chunk, is billed for the tokens counted of
// its prompt and of the text the client received, and says so.
func TestBrokenStreamIsBilledForCountedTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		want := uncut(t)
		e, l := billed(t, strings.Replace(continued, "stream_recovery: {mode: continue}", "stream_recovery: {mode: off}", 1))
		e.faults("a", "m", config.Faults{Cut: config.Fault{Rate: 1, AfterTokens: 40}})
		s := e.stream("chat", true)
		if s.done() || !strings.Contains(s.last(), "stream_broken") {
			t.Fatalf("events %q", s.events)
		}
		got, _ := text(s.chunks(t))
		if prefix := strings.Join(strings.Fields(want)[:40], " "); got != prefix {
			t.Fatalf("the client got %q, want %q", got, prefix)
		}
		r, counted := l.only(t)
		in, out := countedCall("", got)
		if r.Status != "stream_broken" || r.Target != "a/m" || r.PromptTokens != in || r.CompletionTokens != out || !counted {
			t.Errorf("usage record %+v; want stream_broken on a/m, %d+%d tokens counted", r, in, out)
		}
		if c := usage.Nanodollars(in*aIn + out*aOut); r.Cost != c {
			t.Errorf("cost %d, want %d", r.Cost, c)
		}
	})
}

// TestStreamThatReportedUsageIsNotCounted: a stream that ends properly is
// billed for the usage it reported, as before.
func TestStreamThatReportedUsageIsNotCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, l := billed(t, continued)
		s := e.stream("chat", true)
		if !s.done() {
			t.Fatalf("events %q", s.events)
		}
		u := s.chunks(t)[len(s.chunks(t))-1].Usage
		r, counted := l.only(t)
		if u == nil || counted || r.PromptTokens != int64(u.PromptTokens) || r.CompletionTokens != int64(u.CompletionTokens) ||
			r.Cost != usage.Nanodollars(int64(u.PromptTokens)*aIn+int64(u.CompletionTokens)*aOut) {
			t.Errorf("usage record %+v for the reported usage %+v", r, u)
		}
	})
}

// TestContinuedStreamBillsEachCall is cases (b) and (c) of the billing
// rule: a continued stream is billed for the sum of its calls, each at its
// target's price: the broken first call for the tokens counted of it, the
// continuation for the usage it reported, or, when it broke too without
// reporting any, for the tokens counted of it (its prompt holds the text
// so far).
func TestContinuedStreamBillsEachCall(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bCut  bool // the continuation breaks too
		done  bool
		state string
	}{
		{"continuation reports usage", false, true, usage.StatusOK},
		{"continuation breaks too", true, false, "stream_broken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				want := uncut(t)
				e, l := billed(t, strings.Replace(continued, "stream_recovery: {mode: continue}",
					"stream_recovery: {mode: continue, max_continuations: 1}", 1))
				e.faults("a", "m", config.Faults{Cut: config.Fault{Rate: 1, AfterTokens: 40}})
				if tc.bCut {
					e.faults("b", "m", config.Faults{Cut: config.Fault{Rate: 1, AfterTokens: 10}})
				}
				s := e.stream("chat", true)
				if s.done() != tc.done {
					t.Fatalf("events %q", s.events)
				}
				cs := s.chunks(t)
				got, _ := text(cs)
				prefix := strings.Join(strings.Fields(want)[:40], " ")
				if !strings.HasPrefix(got, prefix) || len(got) == len(prefix) {
					t.Fatalf("the client got %q, want %q and more", got, prefix)
				}
				aIn0, aOut0 := countedCall("", prefix)
				var bPrompt, bCompletion int64
				if tc.bCut {
					bPrompt, bCompletion = countedCall(prefix, got[len(prefix):])
				} else {
					u := cs[len(cs)-1].Usage
					if u == nil {
						t.Fatalf("no usage chunk: %q", s.last())
					}
					bPrompt, bCompletion = int64(u.PromptTokens)-aIn0, int64(u.CompletionTokens)-aOut0
					if bCompletion != 20 {
						t.Fatalf("usage chunk %+v: b's 20 tokens are not the rest of it", u)
					}
				}
				r, counted := l.only(t)
				if r.Status != tc.state || r.Target != "b/m" || !counted ||
					r.PromptTokens != aIn0+bPrompt || r.CompletionTokens != aOut0+bCompletion {
					t.Errorf("usage record %+v; want %s on b/m, %d+%d tokens (a's counted) and %d+%d (b's), counted",
						r, tc.state, aIn0, aOut0, bPrompt, bCompletion)
				}
				if c := usage.Nanodollars(aIn0*aIn + aOut0*aOut + bPrompt*bIn + bCompletion*bOut); r.Cost != c {
					t.Errorf("cost %d, want %d: each call at its target's price", r.Cost, c)
				}
			})
		})
	}
}

// TestContinuationIsObserved: each continuation is counted in
// bulwark_stream_continuations_total by alias, target, break and outcome,
// and is an event on the request's span, which carries their number.
func TestContinuationIsObserved(t *testing.T) {
	one := strings.Replace(continued, "stream_recovery: {mode: continue}", "stream_recovery: {mode: continue, max_continuations: 1}", 1)
	for _, tc := range []struct {
		outcome string
		b       config.Faults
		events  int
	}{
		{"completed", config.Faults{}, 1},
		{"broken", config.Faults{Cut: config.Fault{Rate: 1, AfterTokens: 10}}, 1},
		{"prefill_refused", config.Faults{ErrorRates: map[int]float64{400: 1}}, 0},
		{"failed", config.Faults{ErrorRates: map[int]float64{503: 1}}, 0},
	} {
		t.Run(tc.outcome, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				o := newObserved(t, one)
				o.faults("a", "m", config.Faults{Cut: config.Fault{Rate: 1, AfterTokens: 40}})
				o.faults("b", "m", tc.b)
				if code := o.post("chat", true); code != 200 {
					t.Fatalf("status %d", code)
				}
				if got := o.counter("bulwark_stream_continuations_total",
					"alias", "chat", "target", "b/m", "reason", "cut", "outcome", tc.outcome); got != 1 {
					t.Errorf("continuations{b/m, cut, %s} = %v, want 1", tc.outcome, got)
				}
				total := 0.0
				for _, oc := range []string{"completed", "broken", "canceled", "failed", "prefill_refused"} {
					total += o.counter("bulwark_stream_continuations_total", "outcome", oc)
				}
				if total != 1 {
					t.Errorf("%v continuations counted, want 1", total)
				}
				srv, _ := o.server()
				if tc.events == 0 {
					for _, kv := range srv.Attributes {
						if kv.Key == telemetry.AttrContinuations {
							t.Errorf("a continuation that never started is counted on the span: %v", kv.Value.AsInterface())
						}
					}
				} else {
					wantAttrs(t, srv, map[attribute.Key]any{telemetry.AttrContinuations: int64(1)})
				}
				var evs []map[attribute.Key]any
				for _, ev := range srv.Events {
					if ev.Name != telemetry.EventContinuation {
						continue
					}
					m := map[attribute.Key]any{}
					for _, kv := range ev.Attributes {
						m[kv.Key] = kv.Value.AsInterface()
					}
					evs = append(evs, m)
				}
				if len(evs) != tc.events {
					t.Fatalf("%d continuation events, want %d", len(evs), tc.events)
				}
				prefix := strings.Join(strings.Fields(uncut(t))[:40], " ")
				for _, ev := range evs {
					want := map[attribute.Key]any{
						telemetry.AttrContinuationFrom:       "a/m",
						telemetry.AttrContinuationTo:         "b/m",
						telemetry.AttrContinuationReason:     "cut",
						telemetry.AttrContinuationAfterChars: int64(len(prefix)),
					}
					for k, v := range want {
						if ev[k] != v {
							t.Errorf("event %s = %v, want %v", k, ev[k], v)
						}
					}
				}
			})
		})
	}
}
