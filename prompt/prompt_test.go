package prompt_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/prompt"
)

var triage = prompt.Template{
	Messages: []prompt.Message{
		{Role: "system", Content: "Reply in {{ language }}. {{not a placeholder}}"},
		{Role: "user", Content: "{{ticket}} / {{ticket}}"},
	},
	Variables: []prompt.Variable{{Name: "ticket", Required: true}, {Name: "language", Default: "English"}},
}

func TestRender(t *testing.T) {
	got, err := triage.Render(map[string]string{"ticket": "a {{language}} b"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Content != "Reply in English. {{not a placeholder}}" || got[1].Content != "a {{language}} b / a {{language}} b" {
		t.Errorf("Render = %+v", got)
	}
	if triage.Messages[1].Content != "{{ticket}} / {{ticket}}" {
		t.Errorf("Render changed the template")
	}
	var ve *prompt.VariableError
	if _, err := triage.Render(nil); !errors.As(err, &ve) || ve.Name != "ticket" || !strings.Contains(err.Error(), "missing required") {
		t.Errorf("missing: %v", err)
	}
	if _, err := triage.Render(map[string]string{"ticket": "x", "b": "1", "a": "2"}); !errors.As(err, &ve) || ve.Name != "a" {
		t.Errorf("unknown: %v; want the first unknown name, a", err)
	}
}

func TestCheck(t *testing.T) {
	if err := triage.Check(); err != nil {
		t.Fatalf("Check(triage) = %v", err)
	}
	temp := 3.0
	for _, tc := range []struct {
		field string
		t     prompt.Template
	}{
		{"messages", prompt.Template{}},
		{"messages[0].role", prompt.Template{Messages: []prompt.Message{{Role: "tool", Content: "x"}}}},
		{"messages[0].content", prompt.Template{Messages: []prompt.Message{{Role: "user", Content: "{{x}}"}}}},
		{"variables[1].name", prompt.Template{Messages: []prompt.Message{{Role: "user", Content: "x"}},
			Variables: []prompt.Variable{{Name: "a"}, {Name: "a"}}}},
		{"variables[0].default", prompt.Template{Messages: []prompt.Message{{Role: "user", Content: "x"}},
			Variables: []prompt.Variable{{Name: "a", Required: true, Default: "d"}}}},
		{"variables[0].name", prompt.Template{Messages: []prompt.Message{{Role: "user", Content: "x"}},
			Variables: []prompt.Variable{{Name: "1a"}}}},
		{"params.temperature", prompt.Template{Messages: []prompt.Message{{Role: "user", Content: "x"}},
			Params: prompt.Params{Temperature: &temp}}},
	} {
		var fe *prompt.FieldError
		if err := tc.t.Check(); !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("Check = %v; want an error on %s", err, tc.field)
		}
	}
}

func TestParseVersionAndLabels(t *testing.T) {
	for s, want := range map[string]prompt.Ref{"": {}, "3": {Version: 3}, "latest": {Label: "latest"}, "staging": {Label: "staging"}} {
		if got, err := prompt.ParseVersion(s); err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %+v, %v", s, got, err)
		}
	}
	for _, s := range []string{"0", "-1", "Bad Label"} {
		if _, err := prompt.ParseVersion(s); err == nil {
			t.Errorf("ParseVersion(%q) succeeded", s)
		}
	}
	if prompt.CheckLabel("latest") == nil || prompt.CheckLabel("production") != nil {
		t.Error("CheckLabel")
	}
}

// Rendering never fails on a declared variable's value, whatever it
// holds, and substitutes it as given.
func FuzzRender(f *testing.F) {
	f.Add("hello", "French")
	f.Add("{{ticket}}", "{{language}}")
	f.Fuzz(func(t *testing.T, ticket, language string) {
		got, err := triage.Render(map[string]string{"ticket": ticket, "language": language})
		if len(ticket) > prompt.MaxValueSize || len(language) > prompt.MaxValueSize {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if got[1].Content != ticket+" / "+ticket || !strings.HasPrefix(got[0].Content, "Reply in "+language+".") {
			t.Errorf("Render(%q, %q) = %+v", ticket, language, got)
		}
	})
}
