package route

import (
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

func TestPickFollowsWeights(t *testing.T) {
	tbl, err := New([]config.Model{{Name: "chat", Balance: config.BalanceWeighted, Targets: []config.Target{
		{Provider: "a", Model: "m1", Weight: 3},
		{Provider: "b", Model: "m2", Weight: 1},
		{Provider: "a", Model: "m3"}, // weight 0 means 1
	}}}, map[string]llm.Provider{"a": nil, "b": nil}, nil)
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
		}, nil).Name()]++
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
		if _, err := New(models, provs, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestAliasesSorted(t *testing.T) {
	tbl, _ := New([]config.Model{
		{Name: "b", Targets: []config.Target{{Provider: "a", Model: "m"}}},
		{Name: "a", Targets: []config.Target{{Provider: "a", Model: "m"}}},
	}, map[string]llm.Provider{"a": nil}, nil)
	if got := tbl.Aliases(); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("aliases = %v", got)
	}
}

func twoTargets(t *testing.T, balance string) *Route {
	t.Helper()
	tbl, err := New([]config.Model{{Name: "chat", Balance: balance, Targets: []config.Target{
		{Provider: "a", Model: "m"}, {Provider: "b", Model: "m"},
	}}}, map[string]llm.Provider{"a": nil, "b": nil}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := tbl.Lookup("chat")
	return r
}

func TestLeastOutstandingPicksTheLessBusyOfTwo(t *testing.T) {
	r := twoTargets(t, config.BalanceLeastOutstanding)
	done := r.Targets[0].Health.Load.Begin()
	defer done(0, false)
	for _, draw := range []int{0, 1} {
		if got := r.Pick(func(n int) int { return draw % n }, nil); got.Provider != "b" {
			t.Errorf("draw %d picked %s with a busy", draw, got.Name())
		}
	}
}

func TestPeakEWMAPrefersTheFasterTarget(t *testing.T) {
	r := twoTargets(t, "") // the default
	if r.Balance != config.BalancePeakEWMA {
		t.Fatalf("default balance %q", r.Balance)
	}
	r.Targets[0].Health.Load.Begin()(time.Second, true)
	r.Targets[1].Health.Load.Begin()(10*time.Millisecond, true)
	for _, draw := range []int{0, 1} {
		if got := r.Pick(func(n int) int { return draw % n }, nil); got.Provider != "b" {
			t.Errorf("draw %d picked the slow target", draw)
		}
	}
}

func TestPickSkipsOpenBreakersAndExcludedTargets(t *testing.T) {
	r := twoTargets(t, config.BalanceWeighted)
	for range 5 {
		r.Targets[0].Health.Breaker.Allow()
		r.Targets[0].Health.Breaker.Failure()
	}
	for draw := range 2 {
		if got := r.Pick(func(n int) int { return draw % n }, nil); got.Provider != "b" {
			t.Errorf("picked %s with an open breaker", got.Name())
		}
	}
	if got := r.Pick(nil, func(t *Target) bool { return t.Provider == "b" }); got != nil {
		t.Errorf("picked %s with every target skipped", got.Name())
	}
}

func TestSharedTargetsShareHealth(t *testing.T) {
	tbl, err := New([]config.Model{
		{Name: "x", Targets: []config.Target{{Provider: "a", Model: "m"}}},
		{Name: "y", Targets: []config.Target{{Provider: "a", Model: "m"}}},
	}, map[string]llm.Provider{"a": nil}, nil)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := tbl.Lookup("x")
	y, _ := tbl.Lookup("y")
	if x.Targets[0].Health != y.Targets[0].Health || len(tbl.States()) != 1 {
		t.Error("one provider model has two healths")
	}
}

func TestPickForPrefersTheTargetsReservedForTheClass(t *testing.T) {
	r := &Route{Targets: []*Target{
		{Provider: "p", Model: "shared", Weight: 1},
		{Provider: "p", Model: "gold", Weight: 1, Classes: []string{"critical"}},
	}}
	for range 50 {
		if got := r.PickFor("critical", nil, nil); got.Model != "gold" {
			t.Fatalf("critical picked %s with its reserved target available", got.Model)
		}
		if got := r.PickFor("batch", nil, nil); got.Model != "shared" {
			t.Fatalf("batch picked %s", got.Model)
		}
	}
	if got := r.PickFor("critical", nil, func(t *Target) bool { return t.Model == "gold" }); got == nil || got.Model != "shared" {
		t.Fatalf("critical with its reserved target excluded picked %v; want the shared one", got)
	}
	if got := r.PickFor("batch", nil, func(t *Target) bool { return t.Model == "shared" }); got != nil {
		t.Fatalf("batch picked %s, which is reserved for critical", got.Model)
	}
}
