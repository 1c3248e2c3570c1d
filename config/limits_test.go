package config

import (
	"strings"
	"testing"
)

func TestModelLimits(t *testing.T) {
	c := mustParse(t, y(`
models:
  - name: chat
    targets: [{provider: sim, model: sim-chat}]
    limits: {requests_per_minute: 60, tokens_per_minute: 10000, concurrent: 4}
`), nil)
	if l := c.Models[0].Limits; l != (ModelLimits{RequestsPerMinute: 60, TokensPerMinute: 10000, Concurrent: 4}) {
		t.Errorf("limits = %+v", l)
	}

	ps := problemsOf(t, y(`
models:
  - name: chat
    targets: [{provider: sim, model: sim-chat}]
    limits:
      requests_per_minute: -1
      tokens_per_minute: -2
      concurrent: -3
      burst: 5
`), nil)
	got := ps.Error()
	for _, want := range []string{
		"models[0].limits.requests_per_minute", "models[0].limits.tokens_per_minute",
		"models[0].limits.concurrent", "burst",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems %q do not mention %s", got, want)
		}
	}
}
