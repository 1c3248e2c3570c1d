package chaos_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/config"
)

// streams has a primary alias on a (60 tokens, 10ms apart) with the
// fallback on b, and the stream limits under test.
const streams = `
providers:
  a: {type: sim, models: {m-a: {ttft: {p50: 100ms}, itl: {p50: 10ms}, output_tokens: {min: 60, max: 60}}}}
  b: {type: sim, models: {m-b: {ttft: {p50: 100ms}, itl: {p50: 10ms}, output_tokens: {min: 5, max: 5}}}}
models:
  - name: chat
    targets: [{provider: a, model: m-a}]
    fallbacks: [backup]
    timeouts: {ttft: 10s, stream_idle: 3s, heartbeat: 4s}
  - name: backup
    targets: [{provider: b, model: m-b}]
`

func TestStreamFirstTokenBeyondTTFTFailsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, streams)
		e.faults("a", "m-a", config.Faults{SlowFirstToken: config.Fault{Rate: 1, Delay: config.Duration(20 * time.Second)}})
		start := time.Now()
		s := e.stream("chat", false)
		if s.status != 200 || !s.done() || s.content() != 5 {
			t.Fatalf("status %d, events %q", s.status, s.events)
		}
		// 10s TTFT on a, then b's answer: 100ms + 5 tokens.
		if d := since(start); d < 10*time.Second || d > 10500*time.Millisecond {
			t.Errorf("took %s", d)
		}
		if s.comments != 2 {
			t.Errorf("%d heartbeats during a 10s wait every 4s, want 2", s.comments)
		}
	})
}

func TestStreamCutAfterFirstContentIsNeverSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, streams)
		e.faults("a", "m-a", config.Faults{Cut: config.Fault{Rate: 1, AfterTokens: 40}})
		s := e.stream("chat", true)
		if s.done() {
			t.Fatal("a cut stream ended with [DONE]")
		}
		if !strings.Contains(s.last(), `"error"`) || !strings.Contains(s.last(), "stream_broken") {
			t.Errorf("last event %q, want a stream_broken error event", s.last())
		}
		if n := s.content(); n >= 60 || n < 30 {
			t.Errorf("%d content events", n)
		}
		if e.calls("b") != 0 {
			t.Error("failed over after content reached the client")
		}
	})
}

func TestStreamStallIsDetectedWithinTheIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, streams)
		e.faults("a", "m-a", config.Faults{Stall: config.Fault{Rate: 1, AfterTokens: 5}}) // forever
		start := time.Now()
		s := e.stream("chat", false)
		if s.done() || !strings.Contains(s.last(), "stalled") {
			t.Fatalf("events %q", s.events)
		}
		// 100ms + 5 tokens, then the 3s idle limit.
		if d := since(start); d < 3*time.Second || d > 3200*time.Millisecond {
			t.Errorf("stall ended after %s", d)
		}
		synctest.Wait() // nothing of the stalled stream is left running
	})
}

func TestStreamMalformedEventEndsWithError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, streams)
		e.faults("a", "m-a", config.Faults{Malformed: config.Fault{Rate: 1, AfterTokens: 5}})
		s := e.stream("chat", false)
		if s.done() || !strings.Contains(s.last(), `"error"`) {
			t.Fatalf("events %q", s.events)
		}
	})
}

func TestStreamWithoutDoneIsFinalisedWithUsage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, streams)
		e.faults("a", "m-a", config.Faults{NoDone: config.Fault{Rate: 1}})
		start := time.Now()
		s := e.stream("chat", true)
		if !s.done() || s.content() != 60 {
			t.Fatalf("events %q", s.events)
		}
		if usage := s.events[len(s.events)-2]; !strings.Contains(usage, `"completion_tokens":60`) {
			t.Errorf("usage chunk %q", usage)
		}
		if d := since(start); d > 100*time.Millisecond+60*10*time.Millisecond+time.Second {
			t.Errorf("finalised after %s", d)
		}
	})
}

func TestStreamErrorBeforeContentFailsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, streams)
		e.faults("a", "m-a", config.Faults{Reset: config.Fault{Rate: 1}})
		s := e.stream("chat", false)
		if s.status != 200 || !s.done() || s.content() != 5 {
			t.Fatalf("status %d events %q", s.status, s.events)
		}
		if s.header.Get("X-Bulwark-Target") != "b/m-b" || s.header.Get("X-Bulwark-Attempts") != "3" {
			t.Errorf("headers %v", s.header)
		}
		if !strings.Contains(s.events[0], `"model":"m-b"`) {
			t.Errorf("first chunk %q does not name the answering model", s.events[0])
		}
	})
}

func TestStreamFailingEverywhereAfterHeartbeatEndsWithErrorEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, streams)
		slow := config.Faults{SlowFirstToken: config.Fault{Rate: 1, Delay: config.Duration(time.Minute)}}
		e.faults("a", "m-a", slow)
		e.faults("b", "m-b", slow)
		s := e.stream("chat", false)
		if s.status != 200 || s.comments == 0 || s.done() || !strings.Contains(s.last(), "timeout") {
			t.Fatalf("status %d, %d heartbeats, events %q", s.status, s.comments, s.events)
		}
	})
}
