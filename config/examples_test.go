package config

import (
	"os"
	"path/filepath"
	"testing"
)

// TestExamples loads every configuration in ../examples with the
// environment variables they reference set, and checks that it validates.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 6 {
		t.Fatalf("found %d examples, want at least 6", len(files))
	}
	t.Setenv("OPENAI_API_KEY", "sk-example")
	t.Setenv("AZURE_OPENAI_API_KEY", "azure-example")
	t.Setenv("GROQ_API_KEY", "gsk_example")
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-example")
	t.Setenv("GEMINI_API_KEY", "gemini-example")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := Load(f)
			if err != nil {
				t.Fatalf("Load:\n%v", err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate:\n%v", err)
			}
			if len(c.Models) <= 2 {
				t.Errorf("%d models: the example defines none of its own", len(c.Models))
			}
		})
	}
}

// TestExampleNeedsItsKey checks that an example referencing a key fails to
// load, saying which variable is missing, when the key is not set.
func TestExampleNeedsItsKey(t *testing.T) {
	data, err := os.ReadFile("../examples/openai.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ps := problemsOf(t, data, env())
	if len(ps) != 1 || ps[0].Path != "providers.openai.api_key" || ps[0].Line == 0 {
		t.Errorf("got %v", ps)
	}
}
