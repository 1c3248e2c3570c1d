package config

import "testing"

func TestProblemString(t *testing.T) {
	cases := []struct {
		p    Problem
		want string
	}{
		{Problem{Path: "providers.openai.api_kye", Line: 4, Message: `unknown field "api_kye"`}, `providers.openai.api_kye (line 4): unknown field "api_kye"`},
		{Problem{Path: "listen", Line: 0, Message: "bad"}, "listen: bad"},
		{Problem{Path: "", Line: 3, Message: "invalid YAML"}, "line 3: invalid YAML"},
		{Problem{Path: "", Line: 0, Message: "invalid YAML"}, "invalid YAML"},
	}
	for _, tc := range cases {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
	ps := Problems{cases[0].p, cases[1].p}
	if got, want := ps.Error(), cases[0].want+"\n"+cases[1].want; got != want {
		t.Errorf("Problems.Error() = %q, want %q", got, want)
	}
}

func TestPaths(t *testing.T) {
	cases := []struct{ path, parent string }{
		{"models[2].targets[0].provider", "models[2].targets[0]"},
		{"models[2].targets[0]", "models[2].targets"},
		{"models[2]", "models"},
		{"models", ""},
		{`providers["a.b"]`, "providers"},
		{`providers["a.b"].type`, `providers["a.b"]`},
		{`providers["x[\"y"]`, "providers"},
	}
	for _, tc := range cases {
		if got := parentPath(tc.path); got != tc.parent {
			t.Errorf("parentPath(%q) = %q, want %q", tc.path, got, tc.parent)
		}
	}
	if got := childKey("providers", "a b"); got != `providers["a b"]` {
		t.Errorf("childKey: %q", got)
	}
	if got := childKey("", "listen"); got != "listen" {
		t.Errorf("childKey: %q", got)
	}
	lines := map[string]int{"models": 1, "models[0]": 2}
	if got := lineOf(lines, "models[0].targets[3].model"); got != 2 {
		t.Errorf("lineOf = %d, want the nearest ancestor's line 2", got)
	}
	if got := lineOf(nil, "models"); got != 0 {
		t.Errorf("lineOf without a file = %d", got)
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"api_key", "api_version", "base_url", "connect_timeout", "headers", "models", "seed", "type"}
	cases := map[string]string{
		"api_kye":  "api_key",
		"apikey":   "api_key",
		"baseURL":  "base_url",
		"typ":      "type",
		"header":   "headers",
		"color":    "",
		"timeout":  "",
		"x":        "",
		"versions": "",
	}
	for in, want := range cases {
		if got := suggest(in, names); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
