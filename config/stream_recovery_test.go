package config

import (
	"errors"
	"strings"
	"testing"
)

func TestStreamRecoveryParsesAndValidates(t *testing.T) {
	good := `
disable_builtin_sim: true
providers:
  s: {type: sim, continue_prefix: vllm, models: {m: {}}}
models:
  - name: chat
    targets: [{provider: s, model: m}]
    stream_recovery: {mode: continue, on: [cut, idle], max_continuations: 2}
  - name: plain
    targets: [{provider: s, model: m}]
`
	c, err := Parse([]byte(good), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	r := c.Models[0].StreamRecovery
	if !r.Continues("cut") || !r.Continues("idle") || r.Continues("malformed") || r.Max() != 2 {
		t.Errorf("decoded %+v", r)
	}
	if c.Providers["s"].ContinuePrefix != ContinueVLLM {
		t.Errorf("continue_prefix %q", c.Providers["s"].ContinuePrefix)
	}
	off := c.Models[1].StreamRecovery
	if off.Enabled() || off.Continues("cut") {
		t.Errorf("stream recovery is on by default: %+v", off)
	}
	if all := (StreamRecovery{Mode: RecoveryContinue}); !all.Continues("error_event") || all.Max() != 1 {
		t.Errorf("continue with no list: %+v", all)
	}

	bad := `
disable_builtin_sim: true
providers:
  s: {type: sim, continue_prefix: openai, models: {m: {}}}
models:
  - name: chat
    targets: [{provider: s, model: m}]
    stream_recovery: {mode: resume, on: [cut, cut, timeout], max_continuations: -1}
  - name: other
    targets: [{provider: s, model: m}]
    stream_recovery: {on: [cut]}
`
	_, err = Parse([]byte(bad), nil)
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Validate = %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		`providers.s.continue_prefix (line 4): "openai" is not one of vllm`,
		`models[0].stream_recovery.mode (line 8): "resume" is not one of off, continue`,
		`models[0].stream_recovery.on[1] (line 8): "cut" is listed twice`,
		`models[0].stream_recovery.on[2] (line 8): "timeout" is not one of cut, idle, malformed, error_event`,
		`models[0].stream_recovery.max_continuations (line 8): must not be negative`,
		`models[1].stream_recovery.mode (line 11): on and max_continuations apply only with mode: continue`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("problems do not say\n  %s\ngot:\n%s", want, msg)
		}
	}
}
