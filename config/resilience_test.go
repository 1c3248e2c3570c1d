package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestResilienceConfigParsesAndValidates(t *testing.T) {
	good := `
disable_builtin_sim: true
providers:
  s: {type: sim, models: {m: {}, big: {}}}
models:
  - name: chat
    targets: [{provider: s, model: m}]
    fallbacks: [large]
    fallback_on: {context_length: [large]}
    timeouts: {total: 60s, attempt: 20s, ttft: 10s, stream_idle: 30s, heartbeat: 5s}
    retry: {max_attempts: 4, per_target: 3, backoff: {base: 100ms, max: 2s}, max_retry_after: 5s, budget: {ratio: 0.1, window: 30s, min_retries: 2}}
    breaker: {consecutive_failures: 4, failure_ratio: 0.5, min_requests: 10, window: 1m, open_for: 20s, half_open_probes: 2}
    balance: least_outstanding
    hedge: {delay: p95}
  - name: large
    targets: [{provider: s, model: big}]
    hedge: {delay: 250ms}
`
	c, err := Parse([]byte(good), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := c.Models[0]
	if m.Timeouts.TTFT.D() != 10*time.Second || m.Retry.Budget.Ratio != 0.1 || m.Breaker.HalfOpenProbes != 2 || m.FallbackOn.ContextLength[0] != "large" {
		t.Errorf("decoded %+v", m)
	}
	if _, p95 := m.Hedge.HedgeDelay(); !p95 {
		t.Error("p95 hedge not recognised")
	}
	if d, _ := c.Models[1].Hedge.HedgeDelay(); d != 250*time.Millisecond {
		t.Errorf("hedge delay %s", d)
	}

	bad := `
disable_builtin_sim: true
providers:
  s: {type: sim, models: {m: {}}}
models:
  - name: chat
    targets: [{provider: s, model: m}]
    fallback_on: {context_length: [larg, chat]}
    timeouts: {total: 5s, ttft: 10s}
    retry: {max_attempts: -1, backoff: {base: 2s, max: 1s}, budget: {ratio: 1.5}}
    breaker: {failure_ratio: 2}
    balance: fastest
    hedge: {delay: soon}
`
	_, err = Parse([]byte(bad), nil)
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("err = %v", err)
	}
	text := err.Error()
	for _, want := range []string{
		"models[0].fallback_on.context_length[0]", "models[0].fallback_on.context_length[1]",
		"models[0].timeouts.ttft", "models[0].retry.max_attempts", "models[0].retry.backoff.base",
		"models[0].retry.budget.ratio", "models[0].breaker.failure_ratio", "models[0].balance", "models[0].hedge.delay",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no problem at %s in:\n%s", want, text)
		}
	}
}
