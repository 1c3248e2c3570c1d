package config

import (
	"slices"
	"testing"
)

func TestModelTenants(t *testing.T) {
	c := mustParse(t, y(`
models:
  - name: acme-chat-ft
    targets: [{provider: sim, model: sim-chat}]
    tenants: [acme, acme-labs]
`), nil)
	if got := c.Models[0].Tenants; !slices.Equal(got, []string{"acme", "acme-labs"}) {
		t.Errorf("tenants = %q", got)
	}
	for _, tc := range []struct {
		name, src, path string
		line            int
		msg             string
	}{
		{"bad id", `
models:
  - name: chat
    targets: [{provider: sim, model: sim-chat}]
    tenants: [acme, Acme Corp]
`, "models[0].tenants[1]", 4, `tenant ID "Acme Corp" must be`},
		{"empty id", `
models:
  - name: chat
    targets: [{provider: sim, model: sim-chat}]
    tenants: [""]
`, "models[0].tenants[0]", 4, `tenant ID "" must be`},
		{"twice", `
models:
  - name: chat
    targets: [{provider: sim, model: sim-chat}]
    tenants:
      - acme
      - acme
`, "models[0].tenants[1]", 6, `tenant "acme" is listed twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkOne(t, problemsOf(t, y(tc.src), nil), tc.path, tc.line, tc.msg)
		})
	}
}
