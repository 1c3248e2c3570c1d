package config

import (
	"regexp"
	"strings"
	"testing"
)

func TestToolsParseAndValidate(t *testing.T) {
	good := `
disable_builtin_sim: true
providers:
  s: {type: sim, models: {m: {}}}
models:
  - name: agent
    targets: [{provider: s, model: m}]
    tools:
      allow: [search_*, crm.get]
      on_disallowed: refuse
      max_calls: 4
      validate_arguments: true
      on_invalid: reask
    response_format: {validate: true, on_invalid: error}
`
	c, err := Parse([]byte(good), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	m := c.Models[0]
	if !m.Tools.Enabled() || len(m.Tools.Allow) != 2 || m.Tools.OnDisallowed != ToolsRefuse || m.Tools.MaxCalls != 4 ||
		!m.Tools.ValidateArguments || !m.ResponseFormat.Validate || m.ResponseFormat.OnInvalid != OnInvalidError {
		t.Errorf("%+v %+v", m.Tools, m.ResponseFormat)
	}
	if (ModelTools{}).Enabled() {
		t.Error("the zero value governs something")
	}
}

func TestToolsProblems(t *testing.T) {
	bad := `
disable_builtin_sim: true
providers:
  s: {type: sim, models: {m: {}}}
models:
  - name: agent
    targets: [{provider: s, model: m}]
    tools:
      allow: ["", "[x"]
      on_disallowed: drop
      max_calls: -1
      on_invalid: retry
    response_format: {on_invalid: twice}
`
	_, err := Parse([]byte(bad), nil)
	if err == nil {
		t.Fatal("no problem found")
	}
	got := regexp.MustCompile(` \(line \d+\)`).ReplaceAllString(err.Error(), "")
	for _, want := range []string{
		`models[0].tools.allow[0]: must be 1 to 128 characters`,
		`models[0].tools.allow[1]: is not a valid glob`,
		`models[0].tools.on_disallowed: "drop" is not one of remove, refuse`,
		`models[0].tools.max_calls: must not be negative`,
		`models[0].tools.on_invalid: "retry" is not one of reask, error`,
		`models[0].response_format.on_invalid: "twice" is not one of reask, error`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if _, err := Parse([]byte(strings.Replace(bad, "max_calls: -1", "max_call: 1", 1)), nil); err == nil ||
		!strings.Contains(err.Error(), "max_call") {
		t.Errorf("an unknown key: %v", err)
	}
}
