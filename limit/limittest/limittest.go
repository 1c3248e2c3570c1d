package limittest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/limit"
)

// Config is what a backend under test must be built with.
type Config struct {
	// Now is the clock the limiter must read (the suite advances it).
	Now func() time.Time
	// Lease is the concurrency lease the limiter must use.
	Lease time.Duration
}

// Lease is the lease the suite configures.
const Lease = 2 * time.Minute

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to a fixed instant.
func NewClock() *Clock {
	return &Clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Run runs the conformance suite against limiters made by newLimiter,
// which is called once per subtest and must return a limiter with no state
// that reads cfg.Now and uses cfg.Lease, and that lives until the test
// ends.
func Run(t *testing.T, newLimiter func(t *testing.T, cfg Config) limit.Limiter) {
	tests := []struct {
		name string
		fn   func(t *testing.T, l limit.Limiter, c *Clock)
	}{
		{"Requests", testRequests},
		{"Tokens", testTokens},
		{"TooLarge", testTooLarge},
		{"Concurrency", testConcurrency},
		{"CommitReconciles", testCommitReconciles},
		{"CommitDebt", testCommitDebt},
		{"Cancel", testCancel},
		{"Idempotent", testIdempotent},
		{"AllOrNothing", testAllOrNothing},
		{"AliasScope", testAliasScope},
		{"WindowReset", testWindowReset},
		{"Lease", testLease},
		{"Unlimited", testUnlimited},
		{"Invalid", testInvalid},
		{"ConcurrentRequests", testConcurrentRequests},
		{"ConcurrentSlots", testConcurrentSlots},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClock()
			tt.fn(t, newLimiter(t, Config{Now: c.Now, Lease: Lease}), c)
		})
	}
}

func key(l limit.Limits) limit.Scope { return limit.Scope{Kind: limit.ScopeKey, ID: "k1", Limits: l} }
func tenant(l limit.Limits) limit.Scope {
	return limit.Scope{Kind: limit.ScopeTenant, ID: "t1", Limits: l}
}

// reserve reserves and fails the test on an error.
func reserve(t *testing.T, l limit.Limiter, tokens int, scopes ...limit.Scope) (limit.Reservation, limit.Decision) {
	t.Helper()
	r, d, err := l.Reserve(context.Background(), scopes, tokens)
	if err != nil {
		t.Fatalf("Reserve(%v, %d): %v", scopes, tokens, err)
	}
	if d.Allowed != (r != nil) {
		t.Fatalf("Reserve: Allowed = %v but reservation = %v", d.Allowed, r)
	}
	return r, d
}

func mustAllow(t *testing.T, l limit.Limiter, tokens int, scopes ...limit.Scope) (limit.Reservation, limit.Decision) {
	t.Helper()
	r, d := reserve(t, l, tokens, scopes...)
	if !d.Allowed {
		t.Fatalf("Reserve(%d tokens) refused: %v", tokens, d.Err())
	}
	return r, d
}

func mustRefuse(t *testing.T, l limit.Limiter, tokens int, scopes ...limit.Scope) limit.Decision {
	t.Helper()
	r, d := reserve(t, l, tokens, scopes...)
	if d.Allowed {
		_ = r.Cancel(context.Background())
		t.Fatalf("Reserve(%d tokens) allowed; want refused (decision %+v)", tokens, d)
	}
	if err := d.Err(); !errors.Is(err, limit.ErrLimited) {
		t.Fatalf("Decision.Err() = %v; want ErrLimited", err)
	}
	return d
}

func checkStatus(t *testing.T, what string, got, want limit.Status) {
	t.Helper()
	if got != want {
		t.Errorf("%s status = %+v; want %+v", what, got, want)
	}
}

func commit(t *testing.T, r limit.Reservation, tokens int) {
	t.Helper()
	if err := r.Commit(context.Background(), tokens); err != nil {
		t.Fatalf("Commit(%d): %v", tokens, err)
	}
}

func cancel(t *testing.T, r limit.Reservation) {
	t.Helper()
	if err := r.Cancel(context.Background()); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
}

// window is the longest a unit counts: a Period plus the slot it was used in.
const window = limit.Period + limit.Granularity

func testRequests(t *testing.T, l limit.Limiter, c *Clock) {
	s := key(limit.Limits{RequestsPerMinute: 3})
	_, d := mustAllow(t, l, 10, s)
	checkStatus(t, "first requests", d.Requests, limit.Status{Limit: 3, Remaining: 2, Reset: window})
	checkStatus(t, "first tokens (not limited)", d.Tokens, limit.Status{})
	c.Advance(10 * time.Second)
	mustAllow(t, l, 10, s)
	_, d = mustAllow(t, l, 10, s)
	checkStatus(t, "third requests", d.Requests, limit.Status{Limit: 3, Remaining: 0, Reset: window})
	d = mustRefuse(t, l, 10, s)
	if d.Scope.Kind != limit.ScopeKey || d.Scope.ID != "k1" || d.Dimension != limit.Requests || d.TooLarge {
		t.Errorf("refusal = scope %s, dimension %v, too large %v; want key:k1, requests", d.Scope, d.Dimension, d.TooLarge)
	}
	// The first request leaves the window first.
	if want := window - 10*time.Second; d.RetryAfter != want {
		t.Errorf("RetryAfter = %v; want %v", d.RetryAfter, want)
	}
	checkStatus(t, "refused requests", d.Requests, limit.Status{Limit: 3, Remaining: 0, Reset: window})
	var le *limit.Error
	if !errors.As(d.Err(), &le) || le.Limit() != 3 || le.RetryAfter != d.RetryAfter {
		t.Errorf("Decision.Err() = %#v; want an *Error with limit 3 and the RetryAfter", d.Err())
	}

	// Half a second into a slot, waits are half a second shorter.
	c.Advance(50*time.Second + 500*time.Millisecond)
	d = mustRefuse(t, l, 10, s)
	if d.RetryAfter != 500*time.Millisecond {
		t.Errorf("RetryAfter 60.5s after the first request = %v; want 500ms", d.RetryAfter)
	}
	checkStatus(t, "refused requests later", d.Requests, limit.Status{Limit: 3, Remaining: 0, Reset: 10500 * time.Millisecond})
	c.Advance(500 * time.Millisecond)
	mustAllow(t, l, 10, s)
	mustRefuse(t, l, 10, s)
	c.Advance(10 * time.Second)
	mustAllow(t, l, 10, s)
	mustAllow(t, l, 10, s)
	mustRefuse(t, l, 10, s)
}

func testTokens(t *testing.T, l limit.Limiter, c *Clock) {
	s := key(limit.Limits{TokensPerMinute: 1000})
	_, d := mustAllow(t, l, 600, s)
	checkStatus(t, "tokens", d.Tokens, limit.Status{Limit: 1000, Remaining: 400, Reset: window})
	checkStatus(t, "requests (not limited)", d.Requests, limit.Status{})
	d = mustRefuse(t, l, 500, s)
	if d.Dimension != limit.Tokens || d.TooLarge || d.Requested != 500 {
		t.Errorf("refusal = %v, too large %v, requested %d; want tokens, 500", d.Dimension, d.TooLarge, d.Requested)
	}
	if d.RetryAfter != window {
		t.Errorf("RetryAfter = %v; want %v", d.RetryAfter, window)
	}
	checkStatus(t, "refused tokens", d.Tokens, limit.Status{Limit: 1000, Remaining: 400, Reset: window})
	c.Advance(30 * time.Second)
	mustAllow(t, l, 400, s)
	d = mustRefuse(t, l, 1, s)
	if want := window - 30*time.Second; d.RetryAfter != want {
		t.Errorf("RetryAfter = %v; want %v, when the 600 leave", d.RetryAfter, want)
	}
	c.Advance(31 * time.Second)
	mustAllow(t, l, 600, s)
	d = mustRefuse(t, l, 1, s)
	if d.RetryAfter != 30*time.Second {
		t.Errorf("RetryAfter = %v; want 30s, when the 400 leave", d.RetryAfter)
	}
}

func testTooLarge(t *testing.T, l limit.Limiter, c *Clock) {
	s := key(limit.Limits{TokensPerMinute: 1000, RequestsPerMinute: 1})
	mustAllow(t, l, 10, s)
	// Refused both for requests (wait) and for size (never): size wins.
	d := mustRefuse(t, l, 1001, s)
	if !d.TooLarge || d.Dimension != limit.Tokens || d.RetryAfter != 0 || d.Requested != 1001 {
		t.Errorf("refusal = %+v; want too large, tokens, no RetryAfter", d)
	}
	var le *limit.Error
	if !errors.As(d.Err(), &le) || !le.TooLarge {
		t.Errorf("Decision.Err() = %v; want a too-large *Error", d.Err())
	}
}

func testConcurrency(t *testing.T, l limit.Limiter, c *Clock) {
	s := key(limit.Limits{Concurrent: 2})
	r1, _ := mustAllow(t, l, 0, s)
	r2, _ := mustAllow(t, l, 0, s)
	d := mustRefuse(t, l, 0, s)
	if d.Dimension != limit.Concurrency || d.RetryAfter != limit.ConcurrencyRetryAfter {
		t.Errorf("refusal = %v after %v; want concurrency after %v", d.Dimension, d.RetryAfter, limit.ConcurrencyRetryAfter)
	}
	commit(t, r1, 5)
	r3, _ := mustAllow(t, l, 0, s)
	mustRefuse(t, l, 0, s)
	cancel(t, r2)
	r4, _ := mustAllow(t, l, 0, s)
	commit(t, r3, 0)
	commit(t, r4, 0)
}

// tokensLeft returns the tokens remaining in s, without consuming any.
func tokensLeft(t *testing.T, l limit.Limiter, s limit.Scope) int {
	t.Helper()
	r, d := mustAllow(t, l, 0, s)
	cancel(t, r)
	return d.Tokens.Remaining
}

func testCommitReconciles(t *testing.T, l limit.Limiter, c *Clock) {
	s := key(limit.Limits{TokensPerMinute: 1000})
	r, _ := mustAllow(t, l, 500, s)
	commit(t, r, 100) // over-estimate: 400 come back
	if got := tokensLeft(t, l, s); got != 900 {
		t.Errorf("after reserving 500 and using 100: %d tokens left; want 900", got)
	}
	r, _ = mustAllow(t, l, 100, s)
	commit(t, r, 700) // under-estimate: 600 more are taken
	if got := tokensLeft(t, l, s); got != 200 {
		t.Errorf("after reserving 100 and using 700: %d tokens left; want 200", got)
	}
	mustRefuse(t, l, 201, s)
}

func testCommitDebt(t *testing.T, l limit.Limiter, c *Clock) {
	s := key(limit.Limits{TokensPerMinute: 1000})
	r, _ := mustAllow(t, l, 100, s)
	c.Advance(10 * time.Second)
	commit(t, r, 1500) // used more than the whole limit: 1400 more, counted now
	d := mustRefuse(t, l, 0, s)
	if d.RetryAfter != window {
		t.Errorf("RetryAfter with 1500 tokens used = %v; want %v, when the 1400 leave", d.RetryAfter, window)
	}
	checkStatus(t, "over the limit", d.Tokens, limit.Status{Limit: 1000, Remaining: 0, Reset: window})
	c.Advance(51 * time.Second)
	d = mustRefuse(t, l, 0, s)
	if d.RetryAfter != 10*time.Second {
		t.Errorf("RetryAfter with 1400 tokens used = %v; want 10s", d.RetryAfter)
	}
	c.Advance(10 * time.Second)
	mustAllow(t, l, 1000, s)
	mustRefuse(t, l, 1, s)
}

func testCancel(t *testing.T, l limit.Limiter, c *Clock) {
	s := key(limit.Limits{RequestsPerMinute: 1, TokensPerMinute: 100, Concurrent: 1})
	r, _ := mustAllow(t, l, 100, s)
	mustRefuse(t, l, 0, s)
	cancel(t, r)
	r, d := mustAllow(t, l, 100, s)
	checkStatus(t, "requests after cancel", d.Requests, limit.Status{Limit: 1, Remaining: 0, Reset: window})
	checkStatus(t, "tokens after cancel", d.Tokens, limit.Status{Limit: 100, Remaining: 0, Reset: window})
	cancel(t, r)
}

func testIdempotent(t *testing.T, l limit.Limiter, c *Clock) {
	s := key(limit.Limits{RequestsPerMinute: 3, TokensPerMinute: 1000, Concurrent: 1})
	r, _ := mustAllow(t, l, 500, s)
	if r.ID() == "" {
		t.Error("reservation has no ID")
	}
	commit(t, r, 200)
	commit(t, r, 200)
	commit(t, r, 900)
	cancel(t, r)
	r2, d := mustAllow(t, l, 0, s)
	checkStatus(t, "requests", d.Requests, limit.Status{Limit: 3, Remaining: 1, Reset: window})
	checkStatus(t, "tokens", d.Tokens, limit.Status{Limit: 1000, Remaining: 800, Reset: window})
	cancel(t, r2)
	cancel(t, r2)
	commit(t, r2, 100)
	_, d = mustAllow(t, l, 0, s)
	checkStatus(t, "requests after a double cancel", d.Requests, limit.Status{Limit: 3, Remaining: 1, Reset: window})
	checkStatus(t, "tokens after a double cancel", d.Tokens, limit.Status{Limit: 1000, Remaining: 800, Reset: window})
	if r.ID() == r2.ID() {
		t.Errorf("two reservations share the ID %q", r.ID())
	}
}

func testAllOrNothing(t *testing.T, l limit.Limiter, c *Clock) {
	k := key(limit.Limits{RequestsPerMinute: 10, TokensPerMinute: 10000, Concurrent: 10})
	tn := tenant(limit.Limits{RequestsPerMinute: 1, TokensPerMinute: 100})
	_, d := mustAllow(t, l, 50, k, tn)
	// The headers report the most constraining scope: the tenant.
	checkStatus(t, "requests", d.Requests, limit.Status{Limit: 1, Remaining: 0, Reset: window})
	checkStatus(t, "tokens", d.Tokens, limit.Status{Limit: 100, Remaining: 50, Reset: window})
	for range 5 {
		d = mustRefuse(t, l, 50, k, tn)
		if d.Scope.Kind != limit.ScopeTenant || d.Dimension != limit.Requests {
			t.Fatalf("refused by %s %v; want tenant requests", d.Scope, d.Dimension)
		}
	}
	// The tenant's refusals took nothing from the key.
	_, d = mustAllow(t, l, 0, k)
	checkStatus(t, "key requests", d.Requests, limit.Status{Limit: 10, Remaining: 8, Reset: window})
	checkStatus(t, "key tokens", d.Tokens, limit.Status{Limit: 10000, Remaining: 9950, Reset: window})

	// A refusal by the key leaves the tenant alone too.
	c.Advance(window)
	full := limit.Scope{Kind: limit.ScopeKey, ID: "k2", Limits: limit.Limits{Concurrent: 1}}
	r, _ := mustAllow(t, l, 0, full)
	d = mustRefuse(t, l, 10, full, tn)
	if d.Scope.Kind != limit.ScopeKey || d.Dimension != limit.Concurrency {
		t.Errorf("refused by %s %v; want key concurrency", d.Scope, d.Dimension)
	}
	cancel(t, r)
	_, d = mustAllow(t, l, 100, tn)
	checkStatus(t, "tenant tokens", d.Tokens, limit.Status{Limit: 100, Remaining: 0, Reset: window})
}

// testAliasScope: an alias scope is one counter for every key and tenant
// calling the alias, apart from a key or tenant of the same ID, whatever
// punctuation the alias name holds.
func testAliasScope(t *testing.T, l limit.Limiter, _ *Clock) {
	alias := limit.Scope{Kind: limit.ScopeAlias, ID: "meta-llama/Llama-3.1-8B:free", Limits: limit.Limits{RequestsPerMinute: 2}}
	k1 := limit.Scope{Kind: limit.ScopeKey, ID: "k1", Limits: limit.Limits{RequestsPerMinute: 10}}
	k2 := limit.Scope{Kind: limit.ScopeKey, ID: "k2", Limits: limit.Limits{RequestsPerMinute: 10}}
	mustAllow(t, l, 0, k1, alias)
	_, d := mustAllow(t, l, 0, k2, alias)
	checkStatus(t, "alias requests", d.Requests, limit.Status{Limit: 2, Remaining: 0, Reset: window})
	d = mustRefuse(t, l, 0, k1, alias)
	if d.Scope != alias || d.Dimension != limit.Requests {
		t.Errorf("refused by %s %v; want the alias's requests", d.Scope, d.Dimension)
	}
	// The refusal took nothing from the key.
	_, d = mustAllow(t, l, 0, k1)
	checkStatus(t, "key requests", d.Requests, limit.Status{Limit: 10, Remaining: 8, Reset: window})
	// A key, a tenant and an alias of one ID count apart.
	same := limit.Scope{Kind: limit.ScopeKey, ID: alias.ID, Limits: limit.Limits{RequestsPerMinute: 1}}
	mustAllow(t, l, 0, same)
	same.Kind = limit.ScopeTenant
	mustAllow(t, l, 0, same)
}

func testWindowReset(t *testing.T, l limit.Limiter, c *Clock) {
	s := key(limit.Limits{RequestsPerMinute: 2, TokensPerMinute: 100})
	mustAllow(t, l, 50, s)
	mustAllow(t, l, 50, s)
	mustRefuse(t, l, 0, s)
	c.Advance(time.Minute)
	mustRefuse(t, l, 0, s) // still in the window: the slot they were used in has not left it
	c.Advance(limit.Granularity)
	_, d := mustAllow(t, l, 60, s)
	checkStatus(t, "requests", d.Requests, limit.Status{Limit: 2, Remaining: 1, Reset: window})
	checkStatus(t, "tokens", d.Tokens, limit.Status{Limit: 100, Remaining: 40, Reset: window})
	// Long idle time does not bank capacity beyond the limit.
	c.Advance(time.Hour)
	mustAllow(t, l, 100, s)
	mustRefuse(t, l, 1, s)
}

func testLease(t *testing.T, l limit.Limiter, c *Clock) {
	s := key(limit.Limits{Concurrent: 1, TokensPerMinute: 1000})
	r, _ := mustAllow(t, l, 100, s) // never settled: its holder crashed
	mustRefuse(t, l, 0, s)
	c.Advance(Lease - time.Second)
	mustRefuse(t, l, 0, s)
	c.Advance(time.Second)
	r2, _ := mustAllow(t, l, 0, s)
	// Settling the expired reservation late does not free r2's slot.
	commit(t, r, 100)
	mustRefuse(t, l, 0, s)
	commit(t, r2, 0)
	mustAllow(t, l, 0, s)
}

func testUnlimited(t *testing.T, l limit.Limiter, c *Clock) {
	s := key(limit.Limits{})
	for range 100 {
		r, d := mustAllow(t, l, 1_000_000, s)
		if d.Requests != (limit.Status{}) || d.Tokens != (limit.Status{}) {
			t.Fatalf("unlimited scope reports %+v", d)
		}
		commit(t, r, 2_000_000)
	}
	r, _ := mustAllow(t, l, 5) // no scope at all
	cancel(t, r)
}

func testInvalid(t *testing.T, l limit.Limiter, c *Clock) {
	ctx := context.Background()
	s := key(limit.Limits{RequestsPerMinute: 1})
	bad := map[string]struct {
		scopes []limit.Scope
		tokens int
	}{
		"negative tokens": {[]limit.Scope{s}, -1},
		"duplicate scope": {[]limit.Scope{s, s}, 1},
		"no ID":           {[]limit.Scope{{Kind: limit.ScopeKey}}, 1},
		"negative limit":  {[]limit.Scope{key(limit.Limits{Concurrent: -1})}, 1},
	}
	for name, b := range bad {
		if _, _, err := l.Reserve(ctx, b.scopes, b.tokens); !errors.Is(err, limit.ErrInvalid) {
			t.Errorf("Reserve with %s: %v; want ErrInvalid", name, err)
		}
	}
	r, _ := mustAllow(t, l, 1, s)
	if err := r.Commit(ctx, -1); !errors.Is(err, limit.ErrInvalid) {
		t.Errorf("Commit(-1) = %v; want ErrInvalid", err)
	}
	commit(t, r, 1)
}

func testConcurrentRequests(t *testing.T, l limit.Limiter, c *Clock) {
	const limitN, callers = 50, 200
	k := key(limit.Limits{RequestsPerMinute: limitN, TokensPerMinute: 1_000_000})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			scopes := []limit.Scope{k, {Kind: limit.ScopeTenant, ID: "t1", Limits: limit.Limits{RequestsPerMinute: 1000}}}
			r, d, err := l.Reserve(context.Background(), scopes, 10)
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
				return
			}
			if d.Allowed {
				allowed.Add(1)
				if err := r.Commit(context.Background(), 20); err != nil {
					t.Errorf("caller %d: Commit: %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != limitN {
		t.Errorf("%d concurrent callers, %d requests per minute: %d allowed; want exactly %d", callers, limitN, got, limitN)
	}
}

func testConcurrentSlots(t *testing.T, l limit.Limiter, c *Clock) {
	const slots, callers = 5, 100
	k := key(limit.Limits{Concurrent: slots})
	var inFlight, peak, allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			r, d, err := l.Reserve(context.Background(), []limit.Scope{k}, 1)
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
				return
			}
			if !d.Allowed {
				return
			}
			allowed.Add(1)
			n := inFlight.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			inFlight.Add(-1)
			if err := r.Commit(context.Background(), 1); err != nil {
				t.Errorf("caller %d: Commit: %v", i, err)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > slots {
		t.Errorf("%d requests in flight at once; limit %d", p, slots)
	}
	if allowed.Load() < slots {
		t.Errorf("only %d of %d callers allowed with %d slots", allowed.Load(), callers, slots)
	}
}
