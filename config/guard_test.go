package config

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestGuardrailsParseAndValidate(t *testing.T) {
	good := `
disable_builtin_sim: true
providers:
  s: {type: sim, models: {m: {}}}
models:
  - name: chat
    targets: [{provider: s, model: m}]
    guardrails:
      input:
        - {check: max_chars, action: block, max_chars: 20000}
        - {check: pii, action: mask}
        - {check: denied_terms, action: block, terms: [project falcon]}
        - {check: injection, action: log, threshold: 0.7}
      output:
        - {check: pii, action: mask}
`
	c, err := Parse([]byte(good), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	g := c.Models[0].Guardrails
	if !g.Enabled() || len(g.Input) != 4 || g.Input[3].Threshold != 0.7 || g.Output[0].Action != GuardMask {
		t.Errorf("guardrails %+v", g)
	}
}

func TestGuardrailsProblems(t *testing.T) {
	bad := `
disable_builtin_sim: true
providers:
  s: {type: sim, models: {m: {}}}
models:
  - name: chat
    targets: [{provider: s, model: m}]
    guardrails:
      input:
        - {check: toxicity, action: block}
        - {check: injection, action: mask}
        - {check: max_chars, action: log}
        - {check: denied_terms, action: block}
        - {check: pii, action: drop, terms: [x], threshold: 2}
        - {action: log}
      output:
        - {check: injection, action: block, threshold: 1.5}
`
	_, err := Parse([]byte(bad), nil)
	if err == nil {
		t.Fatal("no problem found")
	}
	got := regexp.MustCompile(` \(line \d+\)`).ReplaceAllString(err.Error(), "")
	for _, want := range []string{
		`models[0].guardrails.input[0].check: unknown check "toxicity"`,
		`models[0].guardrails.input[1].action: injection cannot mask`,
		`models[0].guardrails.input[2].max_chars: must be at least 1`,
		`models[0].guardrails.input[3].terms: is required`,
		`models[0].guardrails.input[4].action: unknown action "drop"`,
		`models[0].guardrails.input[4].terms: is only for the denied_terms check`,
		`models[0].guardrails.input[4].threshold: is only for the injection check`,
		`models[0].guardrails.input[5].check: is required`,
		`models[0].guardrails.output[0].threshold: must be above 0 and at most 1`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestGuardrailsRefuseUnknownKeys(t *testing.T) {
	_, err := Parse([]byte(`
disable_builtin_sim: true
providers:
  s: {type: sim, models: {m: {}}}
models:
  - name: chat
    targets: [{provider: s, model: m}]
    guardrails:
      input: [{check: pii, action: mask, kinds: [email]}]
`), nil)
	if err == nil || !strings.Contains(err.Error(), "kinds") {
		t.Errorf("err = %v, want the unknown key named", err)
	}
}

func TestGuardrailsRemoteChecksAndTenants(t *testing.T) {
	good := `
disable_builtin_sim: true
providers:
  s: {type: sim, models: {m: {}, guard: {}}}
models:
  - name: llama-guard
    targets: [{provider: s, model: guard}]
  - name: chat
    targets: [{provider: s, model: m}]
    guardrails:
      input:
        - {check: classifier, model: llama-guard, action: block, on_error: closed, timeout: 1500ms}
        - {check: bedrock, guardrail_id: gr-abc123, guardrail_version: "1", region: eu-west-1, action: mask, on_error: open}
      output:
        - {check: classifier, model: llama-guard, action: log, on_error: open}
      tenants:
        acme:
          input:
            - {check: pii, action: mask}
        globex: {}
`
	c, err := Parse([]byte(good), nil)
	if err != nil {
		t.Fatal(err)
	}
	g := c.Models[1].Guardrails
	if g.Input[0].Timeout.D() != 1500*time.Millisecond || g.Input[0].OnError != GuardClosed || !g.Input[1].Remote() ||
		len(g.Tenants) != 2 || g.Tenants["acme"].Input[0].Check != GuardPII {
		t.Errorf("guardrails %+v", g)
	}
}

func TestGuardrailsRemoteProblems(t *testing.T) {
	bad := `
disable_builtin_sim: true
providers:
  s: {type: sim, models: {m: {}}}
models:
  - name: chat
    targets: [{provider: s, model: m}]
    guardrails:
      input:
        - {check: classifier, model: llama-guard, action: block}
        - {check: classifier, model: chat, action: mask, on_error: maybe}
        - {check: bedrock, action: block, on_error: open, endpoint: "ftp://x"}
        - {check: pii, action: mask, on_error: open, timeout: 1s, model: chat, region: us-east-1}
        - {check: classifier, action: log, on_error: open}
      tenants:
        ACME!:
          output:
            - {check: bedrock, guardrail_id: g, guardrail_version: "1", action: log}
`
	_, err := Parse([]byte(bad), nil)
	if err == nil {
		t.Fatal("no problem found")
	}
	got := regexp.MustCompile(` \(line \d+\)`).ReplaceAllString(err.Error(), "")
	for _, want := range []string{
		`models[0].guardrails.input[0].on_error: is required for classifier`,
		`models[0].guardrails.input[0].model: unknown alias "llama-guard"`,
		`models[0].guardrails.input[1].action: classifier cannot mask`,
		`models[0].guardrails.input[1].on_error: unknown failure mode "maybe"`,
		`models[0].guardrails.input[1].model: must be another alias than "chat" itself`,
		`models[0].guardrails.input[2].guardrail_id: is required`,
		`models[0].guardrails.input[2].guardrail_version: is required`,
		`models[0].guardrails.input[2].endpoint: must be an http or https URL`,
		`models[0].guardrails.input[3].on_error: is only for the checks that call a service`,
		`models[0].guardrails.input[3].timeout: is only for the checks that call a service`,
		`models[0].guardrails.input[3].model: is only for the classifier check`,
		`models[0].guardrails.input[3].region: is only for the bedrock check`,
		`models[0].guardrails.input[4].model: is required for the classifier check`,
		`models[0].guardrails.tenants.ACME!: tenant ID "ACME!" must be`,
		`models[0].guardrails.tenants.ACME!.output[0].on_error: is required for bedrock`,
		`models[0].guardrails.tenants.ACME!.output[0].region: is required for the bedrock check`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
