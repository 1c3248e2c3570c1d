package redis_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/faultproxy"
	"github.com/bulwark-ai/bulwark/limit"
	"github.com/bulwark-ai/bulwark/redis"
)

// Reconcile adds local use to the slots its ages name, raises a window
// below the shared floor to it, and applies an id once.
func TestReconcile(t *testing.T) {
	c := newClient(t)
	prefix := testPrefix(t, c)
	now := time.Unix(1_700_000_000, 0)
	l := redis.NewLimiter(c, redis.LimiterOptions{Prefix: prefix, Now: func() time.Time { return now }})
	ctx := t.Context()
	scope := limit.Scope{Kind: limit.ScopeKey, ID: "k", Limits: limit.Limits{RequestsPerMinute: 100, TokensPerMinute: 1000}}
	remaining := func() (int, int) {
		t.Helper()
		_, d, err := l.Reserve(ctx, []limit.Scope{{Kind: scope.Kind, ID: scope.ID, Limits: limit.Limits{RequestsPerMinute: 1000, TokensPerMinute: 100_000}}}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return 1000 - d.Requests.Remaining - 1, 100_000 - d.Tokens.Remaining // use before this call
	}
	use := []limit.Use{{Scope: scope, Slots: []limit.SlotUse{
		{Age: 0, Local: limit.Counts{Requests: 2, Tokens: 20}},
		{Age: 50, Local: limit.Counts{Requests: 3, Tokens: 30}, Shared: limit.Counts{Requests: 4, Tokens: 40}},
	}}}
	if err := l.Reconcile(ctx, "a", use); err != nil {
		t.Fatal(err)
	}
	if err := l.Reconcile(ctx, "a", use); err != nil { // a retry
		t.Fatal(err)
	}
	// The empty window is raised to the floor of 4 requests and 40
	// tokens, then the local 5 and 50 are added.
	if r, tok := remaining(); r != 9 || tok != 90 {
		t.Fatalf("window holds %d requests, %d tokens; want 9 and 90", r, tok)
	}
	// 11 seconds on, the slot 50 seconds old has left the window.
	now = now.Add(11 * time.Second)
	if r, tok := remaining(); r != 3 || tok != 20 {
		t.Fatalf("11s on, window holds %d requests, %d tokens; want 3 (2 + the probe) and 20", r, tok)
	}
	// A floor the window already holds adds nothing.
	if err := l.Reconcile(ctx, "b", []limit.Use{{Scope: scope, Slots: []limit.SlotUse{{Age: 5, Shared: limit.Counts{Requests: 3}}}}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := remaining(); r != 4 {
		t.Errorf("window holds %d requests; want 4: the floor of 3 was already held", r)
	}
}

// Redis restarts empty while a replica serves a key locally: when Redis
// answers again, the replica reconciles what it admitted before and during
// the outage, and the key admits no more than its limit plus one local
// share in the minute. Without reconciliation Redis would admit a full
// limit on top of everything admitted before.
func TestFallbackRedisRestartedEmpty(t *testing.T) {
	direct := newClient(t)
	prefix := testPrefix(t, direct)
	u, err := url.Parse(testURL())
	if err != nil {
		t.Fatal(err)
	}
	p, err := faultproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	u.Host = p.Addr()
	c, err := redis.NewClient(u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const rpm, tpm = 10, 1000
	f := limit.NewFallback(redis.NewLimiter(c, redis.LimiterOptions{Prefix: prefix}), limit.FallbackOptions{
		Share:    0.5,
		Timeout:  100 * time.Millisecond,
		ProbeMin: 10 * time.Millisecond,
		ProbeMax: 40 * time.Millisecond,
	})
	defer f.Close()
	other := redis.NewLimiter(direct, redis.LimiterOptions{Prefix: prefix}) // another replica
	s := []limit.Scope{{Kind: limit.ScopeKey, ID: "k", Limits: limit.Limits{RequestsPerMinute: rpm, TokensPerMinute: tpm}}}
	admitted := 0
	reserve := func(l limit.Limiter, estimate, used int) bool {
		t.Helper()
		r, d, err := l.Reserve(context.Background(), s, estimate)
		if err != nil {
			t.Fatalf("Reserve: %v", err)
		}
		if d.Allowed {
			admitted++
			if err := r.Commit(context.Background(), used); err != nil {
				t.Fatalf("Commit: %v", err)
			}
		}
		return d.Allowed
	}

	for range 3 {
		if !reserve(f, 10, 10) {
			t.Fatal("refused through Redis")
		}
	}
	p.Cut()
	for range 10 {
		reserve(f, 10, 200) // local: streams that used more than estimated
	}
	if !f.Degraded() {
		t.Fatal("not degraded with Redis cut off")
	}
	if admitted != 5 {
		t.Errorf("%d admitted before and during the outage; want 5: the local share, counting the 3 before", admitted)
	}
	// Redis restarts empty.
	for _, k := range scanKeys(t, direct, prefix) {
		direct.Del(t.Context(), k)
	}
	p.Restore()
	deadline := time.Now().Add(2 * time.Second)
	for f.Degraded() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if f.Degraded() {
		t.Fatal("still degraded two seconds after Redis came back")
	}
	for range 20 {
		reserve(f, 0, 0)
		reserve(other, 0, 0)
	}
	if share := limit.ShareOf(rpm, limit.SharePPM(0.5)); admitted > rpm+share {
		t.Errorf("%d admitted in the minute; want at most the limit %d plus one local share %d", admitted, rpm, share)
	}
	if admitted != rpm {
		t.Errorf("%d admitted in the minute; want %d: one replica cut off, Redis restored", admitted, rpm)
	}
	// The tokens the local reservations committed reached Redis too: 3×10
	// before, 2×200 during.
	_, d, err := other.Reserve(context.Background(), []limit.Scope{{Kind: limit.ScopeKey, ID: "k", Limits: limit.Limits{TokensPerMinute: tpm}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if used := tpm - d.Tokens.Remaining; used != 430 {
		t.Errorf("Redis counts %d tokens; want 430", used)
	}
}
