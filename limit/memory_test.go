package limit_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/bulwark-ai/bulwark/limit"
	"github.com/bulwark-ai/bulwark/limit/limittest"
)

// Scopes that stopped being used are forgotten, so a stream of one-off keys
// does not grow memory without bound; scopes still in use are kept.
func TestMemoryForgetsIdleScopes(t *testing.T) {
	c := limittest.NewClock()
	m := limit.NewMemory(limit.MemoryOptions{Now: c.Now})
	ctx := context.Background()
	held := limit.Scope{Kind: limit.ScopeKey, ID: "held", Limits: limit.Limits{Concurrent: 1}}
	if _, d, err := m.Reserve(ctx, []limit.Scope{held}, 0); err != nil || !d.Allowed {
		t.Fatal(d, err)
	}
	for i := range 5000 {
		s := limit.Scope{Kind: limit.ScopeKey, ID: fmt.Sprint("k", i), Limits: limit.Limits{RequestsPerMinute: 10, TokensPerMinute: 100}}
		r, _, err := m.Reserve(ctx, []limit.Scope{s}, 10)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Commit(ctx, 20); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(limit.Period + limit.Granularity)
	for range 5000 {
		if _, _, err := m.Reserve(ctx, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.ScopesHeld(); n != 1 {
		t.Errorf("%d scopes held after the window passed; want 1, the one holding a slot", n)
	}
	if _, d, _ := m.Reserve(ctx, []limit.Scope{held}, 0); d.Allowed {
		t.Error("the held slot was forgotten")
	}
}
