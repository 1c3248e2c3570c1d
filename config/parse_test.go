package config

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// y returns a YAML source written in a raw string that starts on the line
// after the backquote, so that its line 1 is that line.
func y(s string) []byte { return []byte(strings.TrimPrefix(s, "\n")) }

// env returns a lookup over the given name, value pairs.
func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func mustParse(t *testing.T, src []byte, lookup func(string) (string, bool)) *Config {
	t.Helper()
	c, err := Parse(src, lookup)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// problemsOf parses src and returns its problems, failing when it parses.
func problemsOf(t *testing.T, src []byte, lookup func(string) (string, bool)) Problems {
	t.Helper()
	c, err := Parse(src, lookup)
	if err == nil {
		t.Fatalf("Parse succeeded, want problems")
	}
	if c != nil {
		t.Errorf("Parse returned a Config with an error")
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %T (%v) is not Problems", err, err)
	}
	return ps
}

// checkOne asserts that ps is exactly one problem at path and line whose
// message holds msg.
func checkOne(t *testing.T, ps Problems, path string, line int, msg string) {
	t.Helper()
	if len(ps) != 1 {
		t.Fatalf("got %d problems, want 1:\n%v", len(ps), ps)
	}
	p := ps[0]
	if p.Path != path || p.Line != line || !strings.Contains(p.Message, msg) {
		t.Errorf("got  %s\nwant %s (line %d): …%s…", p, path, line, msg)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, src := range []string{"", "\n", "# only a comment\n", "~\n", "---\n"} {
		c := mustParse(t, []byte(src), nil)
		if c.Listen != DefaultListen || len(c.Models) != 3 || c.Providers[BuiltinSim].Type != ProviderSim || c.Providers[BuiltinLocal].Type != ProviderLocal {
			t.Errorf("%q: got %+v, want the defaults", src, c)
		}
	}
}

func TestParseFull(t *testing.T) {
	c := mustParse(t, y(`
listen: 0.0.0.0:9090
data_dir: /var/lib/bulwark
log: {level: debug, format: text}
server:
  max_body_bytes: 1048576
  read_header_timeout: 5s
  idle_timeout: 1m
  shutdown_grace: 15s
  request_timeout: 2m30s
providers:
  openai:
    type: openai
    base_url: https://api.openai.com/v1
    api_key: 0123
    headers: {OpenAI-Organization: org-1}
    connect_timeout: 3s
models:
  - name: gpt-4o
    context_window: 128000
    targets:
      - {provider: openai, model: gpt-4o, weight: 2}
      - {provider: sim, model: sim-chat}
    fallbacks: [sim-chat]
disable_builtin_sim: false
`), nil)
	if c.Listen != "0.0.0.0:9090" || c.DataDir != "/var/lib/bulwark" || c.Log != (Log{"debug", "text"}) {
		t.Errorf("top level: %+v", c)
	}
	if s := c.Server; s.MaxBodyBytes != 1<<20 || s.ReadHeaderTimeout.D() != 5*time.Second || s.IdleTimeout.D() != time.Minute ||
		s.ShutdownGrace.D() != 15*time.Second || s.RequestTimeout.D() != 150*time.Second {
		t.Errorf("server: %+v", s)
	}
	p := c.Providers["openai"]
	if p.APIKey != "0123" || p.Headers["OpenAI-Organization"] != "org-1" || p.ConnectTimeout.D() != 3*time.Second {
		t.Errorf("provider: %+v", p)
	}
	m := c.Models[0]
	if m.Name != "gpt-4o" || m.ContextWindow != 128000 || len(m.Targets) != 2 || m.Targets[0].Weight != 2 || m.Fallbacks[0] != "sim-chat" {
		t.Errorf("model: %+v", m)
	}
	if c.lines["models[0].targets[1].model"] != 22 || c.lines["providers.openai.api_key"] != 14 {
		t.Errorf("line index: %v", c.lines)
	}
}

func TestParseUnknownFields(t *testing.T) {
	cases := []struct {
		name, src  string
		path       string
		line       int
		msg        string
		noSuggests bool
	}{
		{"top level", `
listn: 127.0.0.1:8080
`, "listn", 1, `unknown field "listn" (did you mean "listen"?)`, false},
		{"provider", `
providers:
  openai:
    type: openai
    api_kye: x
    base_url: https://api.openai.com/v1
`, "providers.openai.api_kye", 4, `unknown field "api_kye" (did you mean "api_key"?)`, false},
		{"target", `
models:
  - name: a
    targets:
      - provider: sim
        model: sim-chat
        wieght: 2
`, "models[0].targets[0].wieght", 6, `unknown field "wieght" (did you mean "weight"?)`, false},
		{"fault", `
providers:
  lab:
    type: sim
    models:
      m:
        faults:
          reset: {rat: 0.1}
`, "providers.lab.models.m.faults.reset.rat", 7, `unknown field "rat" (did you mean "rate"?)`, false},
		{"camel case", `
providers:
  openai:
    type: openai
    baseURL: https://api.openai.com/v1
`, "providers.openai.baseURL", 4, `did you mean "base_url"?`, false},
		{"no suggestion", `
server:
  colour: blue
`, "server.colour", 2, `unknown field "colour"`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ps := problemsOf(t, y(tc.src), nil)
			checkOne(t, ps, tc.path, tc.line, tc.msg)
			if tc.noSuggests && strings.Contains(ps[0].Message, "did you mean") {
				t.Errorf("unexpected suggestion: %s", ps[0])
			}
		})
	}
}

func TestParseTypeErrors(t *testing.T) {
	cases := []struct {
		name, src string
		path      string
		line      int
		msg       string
	}{
		{"int", `
providers:
  lab:
    type: sim
    models:
      m: {rpm: lots}
`, "providers.lab.models.m.rpm", 5, `expected an integer, got "lots"`},
		{"float into int", `
models:
  - name: a
    targets: [{provider: sim, model: sim-chat, weight: 1.5}]
`, "models[0].targets[0].weight", 3, `expected an integer, got "1.5"`},
		{"int overflow", `
server: {max_body_bytes: 99999999999999999999999}
`, "server.max_body_bytes", 1, `expected an integer`},
		{"bool", `
disable_builtin_sim: yes
`, "disable_builtin_sim", 1, `expected true or false, got "yes"`},
		{"float", `
providers:
  lab:
    type: sim
    models:
      m:
        faults: {reset: {rate: often}}
`, "providers.lab.models.m.faults.reset.rate", 6, `expected a number, got "often"`},
		{"mapping for a map", `
providers: [openai]
`, "providers", 1, `expected a mapping, got a list`},
		{"mapping for a list", `
models: {name: a}
`, "models", 1, `expected a list, got a mapping`},
		{"scalar for a list", `
models:
  - name: a
    targets: [{provider: sim, model: sim-chat}]
    fallbacks: sim-chat
`, "models[0].fallbacks", 4, `expected a list, got "sim-chat"`},
		{"mapping for a string", `
listen: {host: x}
`, "listen", 1, `expected a string, got a mapping`},
		{"scalar for a struct", `
log: debug
`, "log", 1, `expected a mapping of settings, got "debug"`},
		{"map key", `
providers:
  lab:
    type: sim
    models:
      m:
        faults:
          error_rates: {server-error: 0.1}
`, `providers.lab.models.m.faults.error_rates.server-error`, 7, `invalid key "server-error": expected an integer`},
		{"duplicate key", `
providers:
  openai:
    type: openai
    base_url: https://api.openai.com/v1
    type: sim
`, "providers.openai.type", 5, `duplicate key "type" (first at line 3)`},
		{"duplicate provider", `
providers:
  a: {type: sim, models: {m: {}}}
  a: {type: sim, models: {m: {}}}
`, "providers.a", 3, `duplicate key "a" (first at line 2)`},
		{"non-scalar key", `
log:
  [level]: debug
`, "log", 2, `a key must be a plain name`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkOne(t, problemsOf(t, y(tc.src), nil), tc.path, tc.line, tc.msg)
		})
	}
}

func TestParseDurations(t *testing.T) {
	cases := []struct {
		name, value string
		msg         string
	}{
		{"bare number", "30", `a duration must be a string with a unit, like "750ms" or "30s", got 30`},
		{"quoted number", `"30"`, `invalid duration "30"`},
		{"float", "1.5", `a duration must be a string with a unit`},
		{"word", "soon", `invalid duration "soon"`},
		{"negative", "-5s", `negative duration "-5s"`},
		{"list", "[5s]", `expected a duration like "750ms", got a list`},
		{"bool", "true", `a duration must be a string with a unit`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := "server:\n  idle_timeout: " + tc.value + "\n"
			checkOne(t, problemsOf(t, []byte(src), nil), "server.idle_timeout", 2, tc.msg)
		})
	}
	c := mustParse(t, y(`
server: {idle_timeout: 1m30s, shutdown_grace: "750ms"}
providers:
  lab:
    type: sim
    models:
      m: {ttft: {p50: 1.5s}, faults: {hang: {rate: 0.5, delay: 2h}}}
`), nil)
	if c.Server.IdleTimeout.D() != 90*time.Second || c.Server.ShutdownGrace.D() != 750*time.Millisecond {
		t.Errorf("server: %+v", c.Server)
	}
	m := c.Providers["lab"].SimModels["m"]
	if m.TTFT.P50.D() != 1500*time.Millisecond || m.Faults.Hang.Delay.D() != 2*time.Hour {
		t.Errorf("sim model: %+v", m)
	}
}

func TestParseYAMLErrors(t *testing.T) {
	cases := []struct {
		name, src string
		line      int
		msg       string
	}{
		{"syntax", "listen: a\nlog:\n  level: [\n", 3, "invalid YAML"},
		{"bad indentation", "log:\n  level: info\n format: json\n", 2, "invalid YAML"},
		{"tab", "log:\n\tlevel: info\n", 2, "invalid YAML"},
		{"not a mapping", "- listen: a\n", 1, "the file must be a mapping"},
		{"scalar", "hello\n", 1, "the file must be a mapping"},
		{"two documents", "listen: :1\n---\nlisten: :2\n", 2, "more than one YAML document"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ps := problemsOf(t, []byte(tc.src), nil)
			checkOne(t, ps, "", tc.line, tc.msg)
		})
	}
}

func TestParseManyProblemsAtOnce(t *testing.T) {
	src := y(`
listen: localhost
log:
  levle: debug
providers:
  openai:
    type: openai
    base_url: ${OPENAI_BASE_URL}
models:
  - name: chat
    targets:
      - provider: opena
        model: gpt-4o
        weight: heavy
    fallbacks: [chat]
`)
	ps := problemsOf(t, src, nil)
	want := strings.Join([]string{
		`listen (line 1): "localhost" is not host:port (write it like 127.0.0.1:8080 or :8080)`,
		`log.levle (line 3): unknown field "levle" (did you mean "level"?)`,
		`providers.openai.base_url (line 7): environment variable OPENAI_BASE_URL is not set (write ${OPENAI_BASE_URL:-default} for a default)`,
		`models[0].targets[0].provider (line 11): unknown provider "opena" (did you mean "openai"?)`,
		`models[0].targets[0].weight (line 13): expected an integer, got "heavy"`,
		`models[0].fallbacks[0] (line 14): "chat" cannot fall back to itself`,
	}, "\n")
	if got := ps.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestParseAnchorsAndMerge(t *testing.T) {
	c := mustParse(t, y(`
providers:
  lab:
    type: sim
    models:
      base: &base
        ttft: {p50: 10ms, p99: 50ms}
        rpm: 5
      other:
        <<: *base
        rpm: 7
      copy: *base
models:
  - name: a
    targets: &targets
      - {provider: lab, model: base}
  - name: b
    targets: *targets
`), nil)
	sims := c.Providers["lab"].SimModels
	if o := sims["other"]; o.TTFT.P50.D() != 10*time.Millisecond || o.RPM != 7 {
		t.Errorf("merged: %+v", o)
	}
	if cp := sims["copy"]; cp.RPM != 5 || cp.TTFT.P99.D() != 50*time.Millisecond {
		t.Errorf("alias: %+v", cp)
	}
	if got := c.Models[1].Targets; len(got) != 1 || got[0].Model != "base" {
		t.Errorf("aliased targets: %+v", got)
	}
	// The line of a value reached through an alias is where the alias is.
	if c.lines["providers.lab.models.copy"] != 11 || c.lines["models[1].targets"] != 17 {
		t.Errorf("lines: %v", c.lines)
	}
}

func TestParseAliasLimits(t *testing.T) {
	t.Run("merge contains itself", func(t *testing.T) {
		ps := problemsOf(t, y(`
log: &l
  <<: *l
`), nil)
		if len(ps) != 1 || !strings.Contains(ps[0].Message, "contains itself") {
			t.Errorf("got %v", ps)
		}
	})
	t.Run("merge bomb", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("a0: &a0 {level: info}\n")
		for i := 1; i < 40; i++ {
			b.WriteString(strings.ReplaceAll(strings.ReplaceAll("aN: &aN {<<: [*aM, *aM]}\n", "N", strconv.Itoa(i)), "M", strconv.Itoa(i-1)))
		}
		b.WriteString("log: *a39\n")
		start := time.Now()
		ps := problemsOf(t, []byte(b.String()), nil)
		if time.Since(start) > 5*time.Second {
			t.Errorf("took %v", time.Since(start))
		}
		if !strings.Contains(ps.Error(), "too many aliases") {
			t.Errorf("got %v", ps)
		}
	})
}

func TestLoad(t *testing.T) {
	if _, err := Load("testdata/does-not-exist.yaml"); err == nil || !strings.HasPrefix(err.Error(), "read config: ") {
		t.Errorf("missing file: %v", err)
	}
}
