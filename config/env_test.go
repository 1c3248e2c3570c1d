package config

import (
	"strings"
	"testing"
	"time"
)

func TestExpandEnv(t *testing.T) {
	lookup := env("KEY", "sk-1", "EMPTY", "", "PORT", "9000")
	cases := []struct {
		in, out string
		problem string
	}{
		{"plain", "plain", ""},
		{"${KEY}", "sk-1", ""},
		{"Bearer ${KEY}!", "Bearer sk-1!", ""},
		{"${KEY}${PORT}", "sk-19000", ""},
		{"${EMPTY}", "", ""},
		{"${MISSING:-fallback}", "fallback", ""},
		{"${EMPTY:-fallback}", "fallback", ""},
		{"${KEY:-fallback}", "sk-1", ""},
		{"${MISSING:-}", "", ""},
		{"${MISSING:-a:b-c}", "a:b-c", ""},
		{"$KEY", "$KEY", ""},
		{"cost: $5", "cost: $5", ""},
		{"$${KEY}", "${KEY}", ""},
		{"a$${KEY}b${KEY}", "a${KEY}bsk-1", ""},
		{"${MISSING}", "", "environment variable MISSING is not set"},
		{"${KEY", "", "unterminated ${"},
		{"${}", "", "invalid environment variable reference"},
		{"${1KEY}", "", "invalid environment variable reference"},
		{"${KEY-x}", "", "invalid environment variable reference"},
	}
	for _, tc := range cases {
		out, _, probs, _ := expandEnv(tc.in, lookup)
		switch {
		case tc.problem == "" && len(probs) > 0:
			t.Errorf("%q: problems %v", tc.in, probs)
		case tc.problem != "" && (len(probs) != 1 || !strings.Contains(probs[0], tc.problem)):
			t.Errorf("%q: problems %v, want %q", tc.in, probs, tc.problem)
		case tc.problem == "" && out != tc.out:
			t.Errorf("%q: got %q, want %q", tc.in, out, tc.out)
		}
	}
}

func TestParseEnv(t *testing.T) {
	src := y(`
listen: ${LISTEN:-127.0.0.1:8080}
providers:
  openai:
    type: openai
    base_url: ${BASE_URL:-https://api.openai.com/v1}
    api_key: ${OPENAI_API_KEY}
    api_version: ${VERSION}
    connect_timeout: ${TIMEOUT}
  lab:
    type: sim
    models:
      m:
        rpm: ${RPM}
        context_window: "${CTX:-4096}"
`)
	c := mustParse(t, src, env(
		"OPENAI_API_KEY", "sk-test",
		// A value that looks like YAML stays text: it cannot add structure.
		"VERSION", "x\nmodels: [{name: injected}]\nlisten: 0.0.0.0:1",
		"TIMEOUT", "3s",
		"RPM", "120",
	))
	p := c.Providers["openai"]
	if c.Listen != "127.0.0.1:8080" || p.BaseURL != "https://api.openai.com/v1" || p.APIKey != "sk-test" {
		t.Errorf("got listen %q base_url %q api_key %q", c.Listen, p.BaseURL, p.APIKey)
	}
	if p.APIVersion != "x\nmodels: [{name: injected}]\nlisten: 0.0.0.0:1" {
		t.Errorf("api_version %q", p.APIVersion)
	}
	for _, m := range c.Models {
		if m.Name == "injected" {
			t.Errorf("an environment value added a model")
		}
	}
	if p.ConnectTimeout.D() != 3*time.Second {
		t.Errorf("connect_timeout %v", p.ConnectTimeout)
	}
	// A reference takes the type of what it expands to, quoted or not.
	if m := c.Providers["lab"].SimModels["m"]; m.RPM != 120 || m.ContextWindow != 4096 {
		t.Errorf("sim model %+v", m)
	}
}

func TestParseEnvProblems(t *testing.T) {
	cases := []struct {
		name, src string
		env       []string
		path      string
		line      int
		msg       string
	}{
		{"missing", `
providers:
  openai:
    type: openai
    base_url: https://api.openai.com/v1
    api_key: ${OPENAI_API_KEY}
`, nil, "providers.openai.api_key", 5, "environment variable OPENAI_API_KEY is not set (write ${OPENAI_API_KEY:-default} for a default)"},
		{"missing in a list", `
models:
  - name: a
    targets: [{provider: sim, model: sim-chat}]
    fallbacks: [sim-chat, "${BACKUP}"]
`, nil, "models[0].fallbacks[1]", 4, "environment variable BACKUP is not set"},
		{"missing required value", `
providers:
  openai:
    type: openai
    base_url: ${BASE_URL}
`, nil, "providers.openai.base_url", 4, "environment variable BASE_URL is not set"},
		{"unterminated", `
listen: ${LISTEN
`, nil, "listen", 1, "unterminated ${"},
		{"empty", `
providers:
  lab:
    type: sim
    models:
      m: {rpm: "${RPM:-}"}
`, nil, "providers.lab.models.m.rpm", 5, `expected an integer, got ""`},
		{"expands to a bare number duration", `
server: {idle_timeout: "${IDLE}"}
`, []string{"IDLE", "30"}, "server.idle_timeout", 1, "a duration must be a string with a unit"},
		{"expands to a wrong type", `
providers:
  lab:
    type: sim
    models:
      m: {rpm: "${RPM}"}
`, []string{"RPM", "many"}, "providers.lab.models.m.rpm", 5, `expected an integer, got "many"`},
		{"keys are not expanded", `
providers:
  ${NAME}: {type: sim, models: {m: {}}}
`, []string{"NAME", "lab"}, `providers["${NAME}"]`, 2, `provider name "${NAME}" must be`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkOne(t, problemsOf(t, y(tc.src), env(tc.env...)), tc.path, tc.line, tc.msg)
		})
	}
}
