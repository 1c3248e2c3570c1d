package config

import (
	"regexp"
	"strings"
	"testing"
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
