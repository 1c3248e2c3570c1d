package config

import (
	"encoding/json"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestRedacted(t *testing.T) {
	c := mustParse(t, y(`
providers:
  openai:
    type: openai
    base_url: https://api.openai.com/v1
    api_key: ${KEY}
    headers: {OpenAI-Organization: org-secret}
  local:
    type: openai
    base_url: http://localhost:11434/v1
models:
  - name: chat
    targets: [{provider: openai, model: gpt-4o}]
`), env("KEY", "sk-secret"))
	r := c.Redacted()
	out, err := yaml.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "secret") {
		t.Errorf("redacted config shows a secret:\n%s", out)
	}
	if got := r.Providers["openai"]; got.APIKey != RedactedValue || got.Headers["OpenAI-Organization"] != RedactedValue {
		t.Errorf("redacted provider %+v", got)
	}
	if r.Providers["local"].APIKey != "" {
		t.Errorf("an empty key should stay empty")
	}
	// The original is unchanged and the copy shares nothing with it.
	if p := c.Providers["openai"]; p.APIKey != "sk-secret" || p.Headers["OpenAI-Organization"] != "org-secret" {
		t.Errorf("original changed: %+v", p)
	}
	r.Models[0].Targets[0].Model = "changed"
	r.Providers[BuiltinSim].SimModels[SimChat] = SimModel{}
	if c.Models[0].Targets[0].Model != "gpt-4o" || c.Providers[BuiltinSim].SimModels[SimChat].ContextWindow == 0 {
		t.Errorf("the copy shares data with the original")
	}
	if err := r.Validate(); err != nil {
		t.Errorf("redacted config does not validate: %v", err)
	}
	// JSON never carries the secrets.
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(j), "secret") {
		t.Errorf("JSON shows a secret: %s", j)
	}
}

func TestRedactedTracingHeaders(t *testing.T) {
	c := mustParse(t, y(`
telemetry:
  tracing:
    enabled: true
    endpoint: collector:4318
    headers: {Authorization: "${TRACE_KEY}"}
`), env("TRACE_KEY", "Bearer trace-secret"))
	r := c.Redacted()
	if got := r.Telemetry.Tracing.Headers["Authorization"]; got != RedactedValue {
		t.Errorf("redacted tracing header = %q, want %q", got, RedactedValue)
	}
	out, err := yaml.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "secret") {
		t.Errorf("redacted config shows a secret:\n%s", out)
	}
	if got := c.Telemetry.Tracing.Headers["Authorization"]; got != "Bearer trace-secret" {
		t.Errorf("original changed: %q", got)
	}
}
