package route

import (
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

func TestPickFollowsWeights(t *testing.T) {
	tbl, err := New([]config.Model{{Name: "chat", Targets: []config.Target{
		{Provider: "a", Model: "m1", Weight: 3},
		{Provider: "b", Model: "m2", Weight: 1},
		{Provider: "a", Model: "m3"}, // weight 0 means 1
	}}}, map[string]llm.Provider{"a": nil, "b": nil})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := tbl.Lookup("chat")
	if !ok {
		t.Fatal("alias missing")
	}
	// Walk every value the random source can give: exact shares.
	counts := map[string]int{}
	for i := 0; i < 5; i++ {
		counts[r.Pick(func(n int) int {
			if n != 5 {
				t.Fatalf("total weight = %d, want 5", n)
			}
			return i
		}).Name()]++
	}
	if counts["a/m1"] != 3 || counts["b/m2"] != 1 || counts["a/m3"] != 1 {
		t.Errorf("shares = %v", counts)
	}
}

func TestNewRejectsBrokenTables(t *testing.T) {
	provs := map[string]llm.Provider{"a": nil}
	for name, models := range map[string][]config.Model{
		"unknown provider": {{Name: "x", Targets: []config.Target{{Provider: "zz", Model: "m"}}}},
		"no targets":       {{Name: "x"}},
		"duplicate alias":  {{Name: "x", Targets: []config.Target{{Provider: "a", Model: "m"}}}, {Name: "x", Targets: []config.Target{{Provider: "a", Model: "m"}}}},
	} {
		if _, err := New(models, provs); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestAliasesSorted(t *testing.T) {
	tbl, _ := New([]config.Model{
		{Name: "b", Targets: []config.Target{{Provider: "a", Model: "m"}}},
		{Name: "a", Targets: []config.Target{{Provider: "a", Model: "m"}}},
	}, map[string]llm.Provider{"a": nil})
	if got := tbl.Aliases(); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("aliases = %v", got)
	}
}
