package redis_test

import (
	"context"
	"net/url"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bulwark-ai/bulwark/faultproxy"
	"github.com/bulwark-ai/bulwark/limit"
	"github.com/bulwark-ai/bulwark/redis"
)

// Reconcile adds local use to the slots its ages name, raises a window
// below the shared floor to it when the caller knows no epoch, and applies
// an id once.
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
	if _, err := l.Reconcile(ctx, "a", "", use); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reconcile(ctx, "a", "", use); err != nil { // a retry
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
	if _, err := l.Reconcile(ctx, "b", "", []limit.Use{{Scope: scope, Slots: []limit.SlotUse{{Age: 5, Shared: limit.Counts{Requests: 3}}}}}); err != nil {
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

// windowRequests returns the requests scope s's window in Redis holds,
// whatever their age.
func windowRequests(t *testing.T, c *goredis.Client, prefix string, s limit.Scope) int {
	t.Helper()
	vals, err := c.HVals(t.Context(), prefix+"limit:"+s.Kind+":"+s.ID+":r").Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range vals {
		i, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		n += i
	}
	return n
}

// Epoch is read or created once and stays. Reconcile under the epoch in
// force adds local use and finds the shared use held; under an epoch Redis
// no longer holds (it restarted empty, or another replica set a new one
// since) it adds the shared use too, once per replica. It returns the
// epoch in force, to a retry as well, which applies nothing.
func TestReconcileEpoch(t *testing.T) {
	c := newClient(t)
	prefix := testPrefix(t, c)
	now := time.Unix(1_700_000_000, 0)
	l := redis.NewLimiter(c, redis.LimiterOptions{Prefix: prefix, Now: func() time.Time { return now }})
	ctx := t.Context()
	s := limit.Scope{Kind: limit.ScopeKey, ID: "k", Limits: limit.Limits{RequestsPerMinute: 100}}
	held := func() int { t.Helper(); return windowRequests(t, c, prefix, s) }
	reconcile := func(id, epoch string, local, shared int) string {
		t.Helper()
		e, err := l.Reconcile(ctx, id, epoch, []limit.Use{{Scope: s, Slots: []limit.SlotUse{
			{Age: 3, Local: limit.Counts{Requests: local}, Shared: limit.Counts{Requests: shared}},
		}}})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	e1, err := l.Epoch(ctx)
	if err != nil || e1 == "" {
		t.Fatalf("Epoch = %q, %v", e1, err)
	}
	if again, err := l.Epoch(ctx); again != e1 || err != nil {
		t.Fatalf("Epoch again = %q, %v; want %q", again, err, e1)
	}
	for range 4 { // admitted through Redis
		if _, d, err := l.Reserve(ctx, []limit.Scope{s}, 0); err != nil || !d.Allowed {
			t.Fatalf("Reserve = %+v, %v", d, err)
		}
	}
	if e := reconcile("a", e1, 1, 4); e != e1 || held() != 5 {
		t.Fatalf("under the epoch in force: epoch %q, window %d; want %q and 5 (4 held, 1 local)", e, held(), e1)
	}

	// Redis restarts empty.
	for _, k := range scanKeys(t, c, prefix) {
		c.Del(ctx, k)
	}
	e2 := reconcile("b", e1, 1, 4)
	if e2 == e1 || e2 == "" || held() != 5 {
		t.Fatalf("after a restart: epoch %q, window %d; want a new epoch and 5 (4 given back, 1 local)", e2, held())
	}
	if e := reconcile("b", e1, 1, 4); e != e2 || held() != 5 {
		t.Fatalf("retry: epoch %q, window %d; want %q and 5", e, held(), e2)
	}
	if e, err := l.Epoch(ctx); e != e2 || err != nil {
		t.Fatalf("Epoch = %q, %v; want %q", e, err, e2)
	}
	// Another replica that saw e1 gives its own back too.
	if e := reconcile("c", e1, 0, 3); e != e2 || held() != 8 {
		t.Fatalf("second replica: epoch %q, window %d; want %q and 8", e, held(), e2)
	}
	// Under the epoch in force, shared use is a floor: a Redis restored
	// from an older copy of its data keeps the epoch without the counts.
	if e := reconcile("d", e2, 0, 20); e != e2 || held() != 20 {
		t.Fatalf("floor under the epoch in force: epoch %q, window %d; want %q and 20", e, held(), e2)
	}
}

// replicas returns n Fallbacks over the test Redis under prefix, each with
// its own client through a proxy they share, and the proxy. Everything is
// closed when the test ends.
func replicas(t *testing.T, prefix string, n int, share float64) ([]*limit.Fallback, *faultproxy.Proxy) {
	t.Helper()
	u, err := url.Parse(testURL())
	if err != nil {
		t.Fatal(err)
	}
	p, err := faultproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	u.Host = p.Addr()
	fs := make([]*limit.Fallback, n)
	for i := range fs {
		c, err := redis.NewClient(u.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fs[i] = limit.NewFallback(redis.NewLimiter(c, redis.LimiterOptions{Prefix: prefix}), limit.FallbackOptions{
			Share:    share,
			Timeout:  100 * time.Millisecond,
			ProbeMin: 10 * time.Millisecond,
			ProbeMax: 40 * time.Millisecond,
		})
		t.Cleanup(func() { fs[i].Close() })
	}
	return fs, p
}

// admit makes n Reserves on f, committing those admitted, and returns how
// many were.
func admit(t *testing.T, f *limit.Fallback, s []limit.Scope, n int) int {
	t.Helper()
	ok := 0
	for range n {
		r, d, err := f.Reserve(context.Background(), s, 0)
		if err != nil {
			t.Fatalf("Reserve: %v", err)
		}
		if d.Allowed {
			ok++
			if err := r.Commit(context.Background(), 0); err != nil {
				t.Fatalf("Commit: %v", err)
			}
		}
	}
	return ok
}

// waitAllRecovered waits until none of fs is degraded.
func waitAllRecovered(t *testing.T, fs []*limit.Fallback) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, f := range fs {
		for f.Degraded() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if f.Degraded() {
			t.Fatal("a replica still degraded five seconds after Redis came back")
		}
	}
}

// outage runs the same scene over three replicas of a key limited to 60
// requests a minute, each with a local share of 20: each admits before
// through Redis, then all three are cut off, Redis restarts empty if
// restart, each admits what its share allows of during more, Redis comes
// back, and each tries 40 more. It returns the total admitted in the
// minute and what Redis counts after the recovery.
func outage(t *testing.T, before, during int, restart bool) (admitted, counted int) {
	direct := newClient(t)
	prefix := testPrefix(t, direct)
	const rpm = 60
	fs, p := replicas(t, prefix, 3, 1.0/3)
	s := []limit.Scope{{Kind: limit.ScopeKey, ID: "k", Limits: limit.Limits{RequestsPerMinute: rpm}}}
	for _, f := range fs {
		if n := admit(t, f, s, before); n != before {
			t.Fatalf("%d of %d admitted through Redis", n, before)
		}
		admitted += before
	}
	p.Cut()
	for _, f := range fs {
		admitted += admit(t, f, s, during)
		if !f.Degraded() {
			t.Fatal("a replica not degraded with Redis cut off")
		}
	}
	if restart {
		for _, k := range scanKeys(t, direct, prefix) {
			direct.Del(t.Context(), k)
		}
	}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	waitAllRecovered(t, fs)
	counted = windowRequests(t, direct, prefix, s[0])
	for _, f := range fs {
		admitted += admit(t, f, s, 40)
	}
	return admitted, counted
}

// Three replicas are cut off from Redis, which restarts empty, after they
// admitted 45 of a key's 60 requests a minute through it; each admits its
// local share of 20 less its own 15 meanwhile. Each gives back to the
// empty Redis what it admitted, through it and locally, so the key gets
// its limit in the minute, and never more than its limit plus one local
// share. Were what they admitted through Redis a floor, only the first
// replica to reconcile would restore its 15, and the key would get 90.
func TestFallbackReplicasRedisRestartedEmpty(t *testing.T) {
	admitted, counted := outage(t, 15, 30, true)
	if share := limit.ShareOf(60, limit.SharePPM(1.0/3)); admitted > 60+share {
		t.Errorf("%d admitted in the minute; want at most the limit 60 plus one local share %d", admitted, share)
	}
	if admitted != 60 || counted != 60 {
		t.Errorf("%d admitted in the minute, Redis counts %d after recovery; want 60 and 60", admitted, counted)
	}
}

// Three replicas are cut off from Redis, which keeps its counts, after
// they admitted 30 of a key's 60 requests a minute through it; each
// admits 5 locally meanwhile. Each adds only those 5 when Redis is back:
// nothing is counted twice, and the key gets exactly its limit in the
// minute. Were what they admitted through Redis added again, Redis would
// count 75 and the key would get 45.
func TestFallbackReplicasRedisKeptState(t *testing.T) {
	admitted, counted := outage(t, 10, 5, false)
	if admitted != 60 || counted != 45 {
		t.Errorf("%d admitted in the minute, Redis counts %d after recovery; want 60 and 45 (30 before, 15 during)", admitted, counted)
	}
}
