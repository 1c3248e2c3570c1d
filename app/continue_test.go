package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm/sim"
)

// TestBrokenStreamIsContinuedOverHTTP runs a continuation over the wire
// end to end: two simulators served over HTTP as two vLLM servers would
// be, the first breaking its stream (a cut, an error event), the second
// declared with continue_prefix: vllm and asked, in vLLM's form, for the
// rest of the answer.
func TestBrokenStreamIsContinuedOverHTTP(t *testing.T) {
	model := map[string]config.SimModel{"m": {OutputTokens: config.Range{Min: 30, Max: 30}}}
	a, b := sim.New("a", 1, model), sim.New("b", 1, model)
	srvA, srvB := httptest.NewServer(a.Handler()), httptest.NewServer(b.Handler())
	defer srvA.Close()
	defer srvB.Close()
	ts := start(t, fmt.Sprintf(`
log: {level: warn}
providers:
  a: {type: openai, base_url: %q}
  b: {type: openai, base_url: %q, continue_prefix: vllm}
models:
  - name: chat
    targets: [{provider: a, model: m}]
    fallbacks: [backup]
    stream_recovery: {mode: continue}
  - name: backup
    targets: [{provider: b, model: m}]
`, srvA.URL+"/v1", srvB.URL+"/v1"))
	const ask = `{"model":"chat","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`

	_, body := ts.do(t, "POST", "/v1/chat/completions", ask)
	want := textOf(t, sseEvents(t, bytes.NewReader(body)))

	for name, f := range map[string]config.Faults{
		"cut":         {Cut: config.Fault{Rate: 1, AfterTokens: 12}},
		"error_event": {ErrorEvent: config.Fault{Rate: 1, AfterTokens: 12}},
	} {
		t.Run(name, func(t *testing.T) {
			if err := a.SetFaults("m", f); err != nil {
				t.Fatal(err)
			}
			_, body := ts.do(t, "POST", "/v1/chat/completions", ask)
			ev := sseEvents(t, bytes.NewReader(body))
			if len(ev) < 2 || ev[len(ev)-1] != "[DONE]" {
				t.Fatalf("events %q", ev)
			}
			if got := textOf(t, ev); got != want {
				t.Errorf("text %q, want %q", got, want)
			}
			usage := ev[len(ev)-2]
			if !strings.Contains(usage, `"bulwark":{"continued":true,"continuations":[{"target":"b/m","after_chars":`) ||
				!strings.Contains(usage, `"reason":"`+name+`"`) {
				t.Errorf("usage chunk %s", usage)
			}
			var u struct {
				Usage struct {
					Completion int `json:"completion_tokens"`
				} `json:"usage"`
			}
			if err := json.Unmarshal([]byte(usage), &u); err != nil || u.Usage.Completion <= 18 {
				t.Errorf("usage chunk %s: completion tokens are not both calls' (b sent 18)", usage)
			}
		})
	}
}

// textOf is the text of a stream's content chunks; it fails on a second
// role chunk.
func textOf(t *testing.T, events []string) string {
	t.Helper()
	var b strings.Builder
	roles := 0
	for _, ev := range events {
		var c struct {
			Choices []struct {
				Delta struct {
					Role    string `json:"role"`
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if ev == "[DONE]" || json.Unmarshal([]byte(ev), &c) != nil {
			continue
		}
		for _, ch := range c.Choices {
			b.WriteString(ch.Delta.Content)
			if ch.Delta.Role != "" {
				roles++
			}
		}
	}
	if roles != 1 {
		t.Errorf("%d role chunks", roles)
	}
	return b.String()
}
