package config

import "testing"

func TestSimRerankKindIsValid(t *testing.T) {
	c, err := Parse([]byte(`
providers:
  lab:
    type: sim
    models:
      rr: {kind: rerank, max_concurrency: 2, faults: {error_rates: {"503": 0.1}}}
models:
  - name: rerank
    targets: [{provider: lab, model: rr}]
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if k := c.Providers["lab"].SimModels["rr"].Kind; k != SimKindRerank {
		t.Errorf("kind %q", k)
	}
	if _, err := Parse([]byte(`
providers:
  lab:
    type: sim
    models:
      rr: {kind: rerank, dimensions: 8}
`), nil); err == nil {
		t.Error("dimensions accepted on a rerank model")
	}
}
