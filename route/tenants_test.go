package route

import (
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

func TestLookupForHidesAliasesOfOtherTenants(t *testing.T) {
	tbl, err := New([]config.Model{
		{Name: "chat", Targets: []config.Target{{Provider: "a", Model: "m"}}},
		{Name: "acme-ft", Targets: []config.Target{{Provider: "a", Model: "ft"}}, Tenants: []string{"acme", "acme-labs"}},
	}, map[string]llm.Provider{"a": nil}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		alias, tenant string
		want          bool
	}{
		{"chat", "acme", true},
		{"chat", "globex", true},
		{"acme-ft", "acme", true},
		{"acme-ft", "acme-labs", true},
		{"acme-ft", "globex", false},
		{"acme-ft", "", false},
		{"nope", "acme", false},
	} {
		r, ok := tbl.LookupFor(tc.alias, tc.tenant)
		if ok != tc.want || (ok && r.Alias != tc.alias) {
			t.Errorf("LookupFor(%q, %q) = %v, %v; want found %v", tc.alias, tc.tenant, r, ok, tc.want)
		}
	}
	// Lookup, for the operator's views, still sees every alias.
	if _, ok := tbl.Lookup("acme-ft"); !ok {
		t.Errorf("Lookup(acme-ft) found nothing")
	}
}
