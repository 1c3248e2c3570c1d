package chaos_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/reqlog"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/tokens"
	"github.com/bulwark-ai/bulwark/usage"
)

// continued has the primary alias on a, which cannot continue a prefix,
// and its fallback on b, which declares it can; both serve a model of the
// same name and seed, so b's continuation of a's answer is a's answer.
const continued = `
providers:
  a: {type: sim, models: {m: {ttft: {p50: 100ms}, itl: {p50: 10ms}, output_tokens: {min: 60, max: 60}}}}
  b: {type: sim, continue_prefix: vllm, models: {m: {ttft: {p50: 100ms}, itl: {p50: 10ms}, output_tokens: {min: 60, max: 60}}}}
models:
  - name: chat
    targets: [{provider: a, model: m}]
    fallbacks: [backup]
    timeouts: {ttft: 10s, stream_idle: 3s}
    stream_recovery: {mode: continue}
  - name: backup
    targets: [{provider: b, model: m}]
`

// chunkOf is what the tests read of a chunk the client got.
type chunkOf struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Created int64  `json:"created"`
	Choices []struct {
		Delta struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage   *llm.Usage `json:"usage"`
	Bulwark *struct {
		Continued     bool `json:"continued"`
		Continuations []struct {
			Target     string `json:"target"`
			AfterChars int    `json:"after_chars"`
			Reason     string `json:"reason"`
		} `json:"continuations"`
	} `json:"bulwark"`
}

// chunks decodes the chunks of a stream the client saw ([DONE] and error
// events left out).
func (s sse) chunks(t *testing.T) []chunkOf {
	t.Helper()
	var out []chunkOf
	for _, ev := range s.events {
		if ev == "[DONE]" || strings.HasPrefix(ev, `{"error"`) {
			continue
		}
		var c chunkOf
		if err := json.Unmarshal([]byte(ev), &c); err != nil {
			t.Fatalf("event %q: %v", ev, err)
		}
		out = append(out, c)
	}
	return out
}

// text is the answer's text and the number of role chunks.
func text(cs []chunkOf) (string, int) {
	var b strings.Builder
	roles := 0
	for _, c := range cs {
		for _, ch := range c.Choices {
			b.WriteString(ch.Delta.Content)
			if ch.Delta.Role != "" {
				roles++
			}
		}
	}
	return b.String(), roles
}

// uncut is the text a's model streams for the harness's prompt when
// nothing fails.
func uncut(t *testing.T) string {
	e := newEnv(t, continued)
	s := e.stream("chat", false)
	if !s.done() {
		t.Fatalf("reference stream: %q", s.events)
	}
	txt, _ := text(s.chunks(t))
	return txt
}

func TestBrokenStreamIsContinuedByATargetThatContinuesPrefixes(t *testing.T) {
	for _, tc := range []struct {
		reason string
		faults config.Faults
	}{
		{"cut", config.Faults{Cut: config.Fault{Rate: 1, AfterTokens: 40}}},
		{"idle", config.Faults{Stall: config.Fault{Rate: 1, AfterTokens: 40}}},
		{"malformed", config.Faults{Malformed: config.Fault{Rate: 1, AfterTokens: 40}}},
		{"error_event", config.Faults{ErrorEvent: config.Fault{Rate: 1, AfterTokens: 40}}},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				want := uncut(t)
				e := newEnv(t, continued)
				e.faults("a", "m", tc.faults)
				s := e.stream("chat", true)
				if s.status != 200 || !s.done() {
					t.Fatalf("status %d, events %q", s.status, s.events)
				}
				cs := s.chunks(t)
				got, roles := text(cs)
				if got != want {
					t.Errorf("the client got\n%q\nwant the uninterrupted answer\n%q", got, want)
				}
				if roles != 1 {
					t.Errorf("%d role chunks, want 1", roles)
				}
				for _, c := range cs {
					if c.ID != cs[0].ID || c.Model != cs[0].Model || c.Created != cs[0].Created {
						t.Fatalf("chunk %+v does not go on with the first chunk's id, model and created %q %q %d", c, cs[0].ID, cs[0].Model, cs[0].Created)
					}
				}
				// The continuation asked b for the rest: the client's
				// message untouched, the text so far after it.
				req := e.prov["b"].stream.Load()
				prefix := strings.Join(strings.Fields(want)[:40], " ")
				if req == nil || !req.Continue || len(req.Messages) != 2 || req.Messages[0] != (llm.Message{Role: "user", Content: "hello there"}) ||
					req.Messages[1] != (llm.Message{Role: "assistant", Content: prefix}) {
					t.Fatalf("continuation request %+v", req)
				}
				last := cs[len(cs)-1]
				fin := cs[len(cs)-2]
				for _, c := range []chunkOf{fin, last} {
					if c.Bulwark == nil || !c.Bulwark.Continued || len(c.Bulwark.Continuations) != 1 {
						t.Fatalf("chunk %+v carries no bulwark object", c)
					}
					k := c.Bulwark.Continuations[0]
					if k.Target != "b/m" || k.Reason != tc.reason || k.AfterChars != len(prefix) {
						t.Errorf("continuation %+v, want b/m after %d characters for %s", k, len(prefix), tc.reason)
					}
				}
				// Usage is both calls': a's estimated (the prompt, and the
				// text it sent), b's reported (20 words).
				u := last.Usage
				if u == nil {
					t.Fatalf("no usage chunk: %q", s.last())
				}
				if wantOut := tokens.For("m").Text(prefix) + 20; u.CompletionTokens != wantOut {
					t.Errorf("completion tokens %d, want %d", u.CompletionTokens, wantOut)
				}
				bPrompt := 3 + 4 + 3 + 4 + (len(prefix)+3)/4 // the simulator's count of b's prompt
				if u.PromptTokens <= bPrompt || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
					t.Errorf("usage %+v: the prompt is not both calls' (b's alone is %d)", u, bPrompt)
				}
				if h := s.header.Get("X-Bulwark-Target"); h != "a/m" {
					t.Errorf("target header %q", h)
				}
			})
		})
	}
}

// ledger keeps the usage records and request log records it is given.
type ledger struct {
	mu   sync.Mutex
	recs []usage.Record
	logs []reqlog.Record
}

func (l *ledger) Add(r usage.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
}

type requestLog struct{ l *ledger }

func (r requestLog) Add(rec reqlog.Record) {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	r.l.logs = append(r.l.logs, rec)
}

// TestContinuationIsRecordedWithBothAttempts checks what the gateway
// records of a continued stream: both attempts, the broken one with its
// break, the answering target, and the usage of both calls.
func TestContinuationIsRecordedWithBothAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, continued)
		l := &ledger{}
		e.gw.SetUsage(l)
		e.gw.SetRequestLog(requestLog{l}, 0)
		e.faults("a", "m", config.Faults{Cut: config.Fault{Rate: 1, AfterTokens: 10}})
		var sum gateway.Summary
		req := chatReq("chat")
		req.Stream = true
		s, _, err := e.gw.Stream(gateway.WithSummary(context.Background(), &sum), tenant.Principal{}, req, gateway.StreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := s.Recv(); err != nil {
				if err != io.EOF {
					t.Fatalf("stream ended with %v", err)
				}
				break
			}
		}
		s.Close()
		if !sum.Ended || sum.Attempts != 2 || sum.Target != "b/m" || sum.ErrorType != "" {
			t.Errorf("summary %+v, want 2 attempts answered by b/m", sum)
		}
		if len(l.recs) != 1 {
			t.Fatalf("%d usage records", len(l.recs))
		}
		r := l.recs[0]
		prefix := tokens.For("m").Text(strings.Join(strings.Fields(uncut(t))[:10], " "))
		if r.Attempts != 2 || r.Target != "b/m" || r.Status != usage.StatusOK || r.CompletionTokens != int64(prefix+50) {
			t.Errorf("usage record %+v, want 2 attempts, b/m, %d completion tokens", r, prefix+50)
		}
		if len(l.logs) != 1 {
			t.Fatalf("%d request log records", len(l.logs))
		}
		at := l.logs[0].Attempts
		if len(at) != 2 || at[0].Target != "a/m" || at[0].ErrorKind != "stream_broken" || at[1].Target != "b/m" || at[1].ErrorKind != "" {
			t.Errorf("request log attempts %+v", at)
		}
		// The request log shows the continuation: the break of the first
		// attempt, and the attempt that continued it.
		if len(at) == 2 && (at[0].Break != "cut" || at[0].Continues || at[1].Break != "" || !at[1].Continues) {
			t.Errorf("request log attempts %+v: want a/m broken by a cut, continued by b/m", at)
		}
	})
}

func TestRejectedPrefillEndsWithBothFailuresAndIsRemembered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, continued)
		e.faults("a", "m", config.Faults{Cut: config.Fault{Rate: 1, AfterTokens: 20}})
		e.faults("b", "m", config.Faults{ErrorRates: map[int]float64{400: 1}})
		s := e.stream("chat", true)
		if s.done() {
			t.Fatal("a stream whose continuation failed ended with [DONE]")
		}
		ev := s.last()
		for _, want := range []string{`"error"`, "a/m stream_broken", "b/m bad_request 400", "could not be continued"} {
			if !strings.Contains(ev, want) {
				t.Errorf("last event %q does not say %q", ev, want)
			}
		}
		if n := s.content(); n != 20 {
			t.Errorf("%d content events, want a's 20", n)
		}
		r, _ := e.table.Lookup("backup")
		if !r.Targets[0].Health.PrefillRefused() || r.Targets[0].CanContinue() {
			t.Error("b refused a prefill and is not remembered as unable")
		}
		// The next broken stream does not send b a prefill again.
		s = e.stream("chat", true)
		if s.done() || !strings.Contains(s.last(), "stream_broken") {
			t.Errorf("events %q", s.events)
		}
		if n := e.calls("b"); n != 1 {
			t.Errorf("b got %d calls, want the one prefill it refused", n)
		}
	})
}

// toolCalls streams a tool call's first part, then breaks.
type toolCalls struct {
	llm.Provider
}

func (toolCalls) Stream(context.Context, *llm.ChatRequest) (llm.Stream, error) {
	return &scripted{chunks: []string{
		`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}`,
		`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}`,
	}}, nil
}

type scripted struct {
	chunks []string
}

func (s *scripted) Recv() (*llm.Chunk, error) {
	if len(s.chunks) == 0 {
		return nil, &llm.Error{Kind: llm.KindStreamBroken, Provider: "a", Model: "m", Message: "stream cut", Break: llm.BreakCut}
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return &llm.Chunk{Data: []byte(c), Model: "m", HasContent: true}, nil
}

func (s *scripted) Close() error { return nil }

func TestToolCallStreamIsNotContinued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, continued)
		e.prov["a"].Provider = toolCalls{e.prov["a"].Provider}
		s := e.stream("chat", false)
		if s.done() || !strings.Contains(s.last(), "stream_broken") {
			t.Fatalf("events %q", s.events)
		}
		if n := e.calls("b"); n != 0 {
			t.Errorf("a tool-call stream was continued (%d calls to b)", n)
		}
	})
}

func TestStreamOfSeveralChoicesIsNotContinued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, continued)
		e.faults("a", "m", config.Faults{Cut: config.Fault{Rate: 1, AfterTokens: 40}})
		s := e.streamBody(`{"model":"chat","stream":true,"n":2,"messages":[{"role":"user","content":"hello there"}]}`)
		if s.done() || !strings.Contains(s.last(), "stream_broken") {
			t.Fatalf("events %q", s.events)
		}
		if n := e.calls("b"); n != 0 {
			t.Errorf("a stream of two choices was continued (%d calls to b)", n)
		}
	})
}

func TestStreamRecoveryOffEndsWithErrorEventAsBefore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, strings.Replace(continued, "stream_recovery: {mode: continue}", "stream_recovery: {mode: off}", 1))
		e.faults("a", "m", config.Faults{Cut: config.Fault{Rate: 1, AfterTokens: 40}})
		s := e.stream("chat", true)
		if s.done() || !strings.Contains(s.last(), "stream_broken") || strings.Contains(s.last(), "continued") {
			t.Fatalf("last event %q", s.last())
		}
		if n := s.content(); n != 40 {
			t.Errorf("%d content events, want 40", n)
		}
		if n := e.calls("b"); n != 0 {
			t.Errorf("continued with stream recovery off (%d calls to b)", n)
		}
	})
}

// TestBrokenStreamIsContinuedOnTheSameTarget has one target that
// continues prefixes: the continuation is its retry, within its attempts.
func TestBrokenStreamIsContinuedOnTheSameTarget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const one = `
providers:
  b: {type: sim, continue_prefix: vllm, models: {m: {ttft: {p50: 100ms}, itl: {p50: 10ms}, output_tokens: {min: 60, max: 60}}}}
models:
  - name: chat
    targets: [{provider: b, model: m}]
    timeouts: {ttft: 10s, stream_idle: 3s}
    stream_recovery: {mode: continue, on: [cut], max_continuations: 1}
`
		want := uncut(t)
		e := newEnv(t, one)
		e.faults("b", "m", config.Faults{Cut: config.Fault{Rate: 1, AfterTokens: 30}})
		e.after("b", func(n int64) {
			if n == 1 {
				e.faults("b", "m", config.Faults{})
			}
		})
		s := e.stream("chat", false)
		if !s.done() {
			t.Fatalf("events %q", s.events)
		}
		if got, _ := text(s.chunks(t)); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
		if n := e.calls("b"); n != 2 {
			t.Errorf("%d calls, want the stream and its continuation", n)
		}
	})
}

// The client's max_tokens bounds the whole answer: a continuation may
// produce only what the text so far left of it.
func TestContinuationGetsWhatIsLeftOfMaxTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, continued)
		e.faults("a", "m", config.Faults{Cut: config.Fault{Rate: 1, AfterTokens: 40}})
		s := e.streamBody(`{"model":"chat","stream":true,"max_tokens":100,"messages":[{"role":"user","content":"hello there"}]}`)
		if s.status != 200 || !s.done() {
			t.Fatalf("status %d, events %q", s.status, s.events)
		}
		req := e.prov["b"].stream.Load()
		if req == nil || !req.Continue || len(req.Messages) != 2 {
			t.Fatalf("continuation request %+v", req)
		}
		sent := tokens.For("m").Text(req.Messages[1].Content)
		if want := 100 - sent; req.MaxTokens != want {
			t.Errorf("the continuation may produce %d tokens; want the %d that the %d already sent left of 100", req.MaxTokens, want, sent)
		}
	})
}
