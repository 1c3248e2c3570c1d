package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics and returns either a Config
// that validates or Problems.
func FuzzParse(f *testing.F) {
	examples, _ := filepath.Glob("../examples/*.yaml")
	for _, e := range examples {
		if data, err := os.ReadFile(e); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"",
		"listen: :8080\n",
		"providers:\n  p: {type: openai, base_url: \"http://h/v1\", api_key: ${K}}\n",
		"providers:\n  s: {type: sim, models: {m: {faults: {error_rates: {500: 0.5}}}}}\nmodels:\n  - {name: a, targets: [{provider: s, model: m}], fallbacks: [sim-chat]}\n",
		"log: &l {<<: *l}\n",
		"a: &a {level: info}\nlog: {<<: [*a, *a]}\n",
		"server: {idle_timeout: 30}\n",
		"models: [{name: a, fallbacks: [b]}, {name: b, fallbacks: [a]}]\n",
		"---\n---\n",
	} {
		f.Add([]byte(s))
	}
	lookup := env("K", "v", "N", "12", "E", "")
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, lookup)
		if err != nil {
			var ps Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error %T is not non-empty Problems: %v", err, err)
			}
			if c != nil {
				t.Fatal("a Config with an error")
			}
			return
		}
		if c == nil {
			t.Fatal("no Config and no error")
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse succeeded but Validate fails: %v", err)
		}
		if err := c.Redacted().Validate(); err != nil {
			t.Fatalf("Redacted does not validate: %v", err)
		}
	})
}
