package limit_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/limit"
)

func TestShareOf(t *testing.T) {
	for _, c := range []struct {
		limit int
		share float64
		want  int
	}{
		{600, 0.34, 204}, // 600*0.34 is 204.00000000000003 in floating point
		{600, 1.0 / 3, 200},
		{30, 0.1, 3}, // 3.0000000000000004
		{7, 1.0 / 3, 3},
		{1, 0.5, 1},
		{10, 1e-9, 1}, // at least 1
		{0, 0.5, 0},
		{600, 1, 600},
		{600, 0, 600}, // 0 means the whole limit
	} {
		if got := limit.ShareOf(c.limit, limit.SharePPM(c.share)); got != c.want {
			t.Errorf("ShareOf(%d, %v) = %d; want %d", c.limit, c.share, got, c.want)
		}
	}
}

// The local limit a degraded Fallback enforces is the share in integers.
func TestFallbackShareIsExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := &flaky{Limiter: limit.NewMemory(limit.MemoryOptions{})}
		shared.down.Store(true)
		f := limit.NewFallback(shared, limit.FallbackOptions{Share: 0.34, ProbeMin: time.Hour})
		defer f.Close()
		s := []limit.Scope{{Kind: limit.ScopeKey, ID: "k", Limits: limit.Limits{RequestsPerMinute: 600, TokensPerMinute: 30_000}}}
		_, d, err := f.Reserve(context.Background(), s, 0)
		if err != nil || !d.Allowed {
			t.Fatalf("Reserve = %+v, %v", d, err)
		}
		if d.Requests.Limit != 204 || d.Tokens.Limit != 10_200 {
			t.Errorf("local limits %d requests, %d tokens; want 204 and 10200", d.Requests.Limit, d.Tokens.Limit)
		}
	})
}

// reconciling is a flaky shared limiter that is a limit.Reconciler and
// records what it is asked to reconcile.
type reconciling struct {
	flaky
	f        *limit.Fallback
	mu       sync.Mutex
	refuse   bool   // Reconcile fails
	loseNext bool   // the next Reconcile is applied, but its answer is lost
	epoch    string // the epoch in force; "" means "e1"
	epochs   int    // Epoch calls
	calls    []reconcileCall
	applied  map[string]bool
}

type reconcileCall struct {
	id       string
	epoch    string // the epoch the Fallback last saw
	use      []limit.Use
	degraded bool
	applied  bool
}

func (r *reconciling) Epoch(ctx context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.epochs++
	if r.down.Load() {
		return "", errDown
	}
	return r.epochLocked(), nil
}

func (r *reconciling) epochLocked() string {
	if r.epoch == "" {
		return "e1"
	}
	return r.epoch
}

func (r *reconciling) setEpoch(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.epoch = e
}

func (r *reconciling) epochCalls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.epochs
}

func (r *reconciling) Reconcile(ctx context.Context, id, epoch string, use []limit.Use) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := reconcileCall{id: id, epoch: epoch, use: use, degraded: r.f.Degraded()}
	if r.refuse {
		r.calls = append(r.calls, c)
		return "", errDown
	}
	c.applied = !r.applied[id]
	r.applied[id] = true
	r.calls = append(r.calls, c)
	if r.loseNext {
		r.loseNext = false
		return "", errDown
	}
	return r.epochLocked(), nil
}

func (r *reconciling) log() []reconcileCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]reconcileCall(nil), r.calls...)
}

func newReconciling(t *testing.T, o limit.FallbackOptions) (*reconciling, *limit.Fallback) {
	shared := &reconciling{flaky: flaky{Limiter: limit.NewMemory(limit.MemoryOptions{})}, applied: map[string]bool{}}
	f := limit.NewFallback(shared, o)
	shared.f = f
	t.Cleanup(func() { f.Close() })
	return shared, f
}

// waitRecovered advances fake time until f is no longer degraded.
func waitRecovered(t *testing.T, f *limit.Fallback) {
	t.Helper()
	for range 100 {
		if !f.Degraded() {
			return
		}
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
	}
	t.Fatal("still degraded")
}

// What a Fallback admits locally (requests, and tokens as committed) is
// reconciled, slot by slot, before it serves from the shared limiter
// again, with what it admitted through the shared limiter (for the shared
// limiter to add back if it lost it); a failed push keeps the outage going
// and is retried under the same id.
func TestFallbackReconcilesLocalUse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared, f := newReconciling(t, limit.FallbackOptions{Share: 0.5, ProbeMin: time.Second, ProbeMax: time.Second})
		ctx := context.Background()
		s := []limit.Scope{{Kind: limit.ScopeKey, ID: "k", Limits: limit.Limits{RequestsPerMinute: 100, TokensPerMinute: 10_000}}}
		reserve := func(estimate, used int) {
			t.Helper()
			r, d, err := f.Reserve(ctx, s, estimate)
			if err != nil || !d.Allowed {
				t.Fatalf("Reserve = %+v, %v", d, err)
			}
			if used < 0 {
				err = r.Cancel(ctx)
			} else {
				err = r.Commit(ctx, used)
			}
			if err != nil {
				t.Fatal(err)
			}
		}

		reserve(10, 30) // through the shared limiter, at 0s
		time.Sleep(5 * time.Second)
		shared.down.Store(true)
		reserve(10, 25)                     // locally, at 5s
		reserve(10, -1)                     // cancelled: not counted
		time.Sleep(2500 * time.Millisecond) // off the probes' beat (6s, 7s, ...)
		reserve(10, 5)                      // at 7.5s
		if !f.Degraded() {
			t.Fatal("not degraded")
		}

		shared.mu.Lock()
		shared.refuse = true
		shared.mu.Unlock()
		shared.down.Store(false)
		time.Sleep(time.Second) // a probe at 8s answers; the push fails
		synctest.Wait()
		if !f.Degraded() {
			t.Fatal("the outage ended though the push failed")
		}
		shared.mu.Lock()
		shared.refuse = false
		shared.mu.Unlock()
		waitRecovered(t, f) // the next probe, at 9s

		calls := shared.log()
		if len(calls) != 2 {
			t.Fatalf("Reconcile calls %+v; want 2 (one failed, one retry)", calls)
		}
		if calls[0].id != calls[1].id {
			t.Errorf("retry under id %q; want the failed push's %q", calls[1].id, calls[0].id)
		}
		for _, c := range calls {
			if !c.degraded {
				t.Error("Reconcile ran after the outage ended")
			}
		}
		want := []limit.Use{{Scope: limit.Scope{Kind: limit.ScopeKey, ID: "k"}, Slots: []limit.SlotUse{
			{Age: 2, Local: limit.Counts{Requests: 1, Tokens: 5}},
			{Age: 4, Local: limit.Counts{Requests: 1, Tokens: 25}},
			{Age: 9, Shared: limit.Counts{Requests: 1, Tokens: 30}},
		}}}
		assertUse(t, calls[1].use, want)

		// Back on the shared limiter: nothing left to push.
		reserve(0, 0)
		if n := len(shared.log()); n != 2 {
			t.Errorf("%d Reconcile calls after recovery; want none more", n-2)
		}
	})
}

func assertUse(t *testing.T, got, want []limit.Use) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("use %+v; want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Scope.Kind != w.Scope.Kind || g.Scope.ID != w.Scope.ID || len(g.Slots) != len(w.Slots) {
			t.Fatalf("use %+v; want %+v", got, want)
		}
		for j := range w.Slots {
			if g.Slots[j] != w.Slots[j] {
				t.Errorf("use of %s slot %d = %+v; want %+v", w.Scope, j, g.Slots[j], w.Slots[j])
			}
		}
	}
}

// A push Redis applied but whose answer was lost is retried under the same
// id (which the shared limiter applies once); tokens a local reservation
// commits after the outage ended reach the shared limiter with the next
// Reserve.
func TestFallbackReconcilesLateCommits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared, f := newReconciling(t, limit.FallbackOptions{ProbeMin: time.Second, ProbeMax: time.Second})
		ctx := context.Background()
		s := []limit.Scope{{Kind: limit.ScopeKey, ID: "k", Limits: limit.Limits{TokensPerMinute: 10_000}}}
		shared.down.Store(true)
		r, d, err := f.Reserve(ctx, s, 100) // a stream, admitted locally
		if err != nil || !d.Allowed {
			t.Fatalf("Reserve = %+v, %v", d, err)
		}
		r2, d, err := f.Reserve(ctx, s, 100) // another
		if err != nil || !d.Allowed {
			t.Fatalf("Reserve = %+v, %v", d, err)
		}
		shared.mu.Lock()
		shared.loseNext = true
		shared.mu.Unlock()
		shared.down.Store(false)
		waitRecovered(t, f)
		calls := shared.log()
		if len(calls) != 2 || calls[0].id != calls[1].id || !calls[0].applied || calls[1].applied {
			t.Fatalf("Reconcile calls %+v; want one applied, then its retry under the same id", calls)
		}

		time.Sleep(3 * time.Second)
		if err := r.Commit(ctx, 400); err != nil { // the stream ends: 300 more than estimated
			t.Fatal(err)
		}
		if _, _, err := f.Reserve(ctx, s, 0); err != nil {
			t.Fatal(err)
		}
		calls = shared.log()
		if len(calls) != 3 || calls[2].id == calls[0].id || calls[2].degraded {
			t.Fatalf("Reconcile calls %+v; want a third, new one", calls)
		}
		assertUse(t, calls[2].use, []limit.Use{{Scope: limit.Scope{Kind: limit.ScopeKey, ID: "k"}, Slots: []limit.SlotUse{
			{Age: 0, Local: limit.Counts{Tokens: 300}},
		}}})

		// If such a push fails, the shared limiter is unreachable: an
		// outage, and the Reserve is served locally.
		shared.mu.Lock()
		shared.refuse = true
		shared.mu.Unlock()
		if err := r2.Commit(ctx, 200); err != nil {
			t.Fatal(err)
		}
		before := shared.flaky.calls.Load()
		if _, d, err := f.Reserve(ctx, s, 0); err != nil || !d.Allowed {
			t.Fatalf("Reserve = %+v, %v; want served locally", d, err)
		}
		if !f.Degraded() || shared.flaky.calls.Load() != before {
			t.Fatalf("degraded %v after a failed push, %d shared Reserve calls; want degraded, none", f.Degraded(), shared.flaky.calls.Load()-before)
		}
	})
}

// Mirroring: what a replica admitted through the shared limiter in the
// last minute counts against its local share when an outage begins, so a
// replica never admits more than max(its own admissions, its share) in a
// window on its own.
func TestFallbackMirrorsSharedAdmissions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := &flaky{Limiter: limit.NewMemory(limit.MemoryOptions{})}
		f := limit.NewFallback(shared, limit.FallbackOptions{Share: 0.5, ProbeMin: time.Hour})
		defer f.Close()
		ctx := context.Background()
		s := []limit.Scope{{Kind: limit.ScopeKey, ID: "k", Limits: limit.Limits{RequestsPerMinute: 20}}}
		admitted := func(n int) int {
			ok := 0
			for range n {
				_, d, err := f.Reserve(ctx, s, 0)
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed {
					ok++
				}
			}
			return ok
		}
		if got := admitted(6); got != 6 {
			t.Fatalf("%d admitted through the shared limiter; want 6", got)
		}
		time.Sleep(30 * time.Second)
		shared.down.Store(true)
		if got := admitted(10); got != 4 {
			t.Errorf("%d admitted locally; want 4: the share of 10 less the 6 admitted 30s before", got)
		}
		time.Sleep(31 * time.Second) // the 6 leave the window
		if got := admitted(10); got != 6 {
			t.Errorf("%d admitted locally a minute on; want 6", got)
		}
	})
}

var _ limit.Reconciler = (*reconciling)(nil)

// hasShared reports whether use carries shared use.
func hasShared(use []limit.Use) bool {
	for _, u := range use {
		for _, s := range u.Slots {
			if s.Shared != (limit.Counts{}) {
				return true
			}
		}
	}
	return false
}

// A Fallback reads the shared limiter's epoch once, before its first
// Reserve through it, and reconciles under the epoch it last saw. It
// adopts the epoch a reconciliation with its shared use answers, and not
// one a push of local use alone answers: that one did not give back what
// the shared limiter lost, so the next reconciliation must still see the
// epoch as changed. A failed local push is retried as it was sent, and the
// shared use goes in a call of its own.
func TestFallbackTracksEpoch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared, f := newReconciling(t, limit.FallbackOptions{Share: 0.5, ProbeMin: time.Second, ProbeMax: time.Second})
		ctx := context.Background()
		s := []limit.Scope{{Kind: limit.ScopeKey, ID: "k", Limits: limit.Limits{RequestsPerMinute: 100, TokensPerMinute: 10_000}}}
		reserve := func() limit.Reservation {
			t.Helper()
			r, d, err := f.Reserve(ctx, s, 10)
			if err != nil || !d.Allowed {
				t.Fatalf("Reserve = %+v, %v", d, err)
			}
			return r
		}
		lastCall := func() reconcileCall {
			t.Helper()
			calls := shared.log()
			if len(calls) == 0 {
				t.Fatal("no Reconcile call")
			}
			return calls[len(calls)-1]
		}

		for range 3 {
			reserve()
		}
		if n := shared.epochCalls(); n != 1 {
			t.Fatalf("%d Epoch calls for three Reserves; want 1, before the first", n)
		}

		// An outage during which the shared limiter loses its counts: the
		// reconciliation carries the shared use under the old epoch.
		shared.down.Store(true)
		reserve()
		shared.setEpoch("e2")
		shared.down.Store(false)
		waitRecovered(t, f)
		if c := lastCall(); c.epoch != "e1" || !hasShared(c.use) {
			t.Fatalf("recovery call %+v; want epoch e1 and the shared use", c)
		}

		// The next outage reconciles under the epoch the last one answered.
		reserve()
		shared.down.Store(true)
		r, r2 := reserve(), reserve() // local, committed after the outage
		shared.down.Store(false)
		waitRecovered(t, f)
		if c := lastCall(); c.epoch != "e2" {
			t.Fatalf("recovery call %+v; want epoch e2", c)
		}

		// A push of local use alone finds the epoch changed: it is not
		// adopted.
		shared.setEpoch("e3")
		if err := r.Commit(ctx, 50); err != nil {
			t.Fatal(err)
		}
		reserve()
		if c := lastCall(); c.epoch != "e2" || hasShared(c.use) || c.degraded {
			t.Fatalf("late push %+v; want local use alone under epoch e2", c)
		}
		// A local push that fails begins an outage; at its end the push is
		// retried without the shared use, which a second call carries,
		// still under e2.
		shared.mu.Lock()
		shared.refuse = true
		shared.mu.Unlock()
		if err := r2.Commit(ctx, 50); err != nil {
			t.Fatal(err)
		}
		before := len(shared.log())
		reserve() // the push fails: served locally
		if !f.Degraded() {
			t.Fatal("not degraded after a failed push")
		}
		shared.mu.Lock()
		shared.refuse = false
		shared.mu.Unlock()
		waitRecovered(t, f)
		calls := shared.log()[before:]
		if len(calls) != 3 {
			t.Fatalf("Reconcile calls %+v; want the failed push, its retry and one with the shared use", calls)
		}
		if calls[1].id != calls[0].id || hasShared(calls[1].use) || calls[1].epoch != "e2" {
			t.Errorf("retry %+v; want the failed push %+v again", calls[1], calls[0])
		}
		if calls[2].id == calls[0].id || !hasShared(calls[2].use) || calls[2].epoch != "e2" {
			t.Errorf("third call %+v; want a new one with the shared use under e2", calls[2])
		}

		// That call answered e3, which the next outage reconciles under.
		shared.down.Store(true)
		reserve()
		shared.down.Store(false)
		waitRecovered(t, f)
		if c := lastCall(); c.epoch != "e3" {
			t.Fatalf("recovery call %+v; want epoch e3", c)
		}
		if n := shared.epochCalls(); n != 1 {
			t.Errorf("%d Epoch calls; want 1", n)
		}
	})
}

// A Fallback whose first Epoch fails serves locally, as after a failed
// Reserve, and reconciles that outage with no epoch (the floor), then
// under the epoch the reconciliation answered.
func TestFallbackEpochUnknown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared, f := newReconciling(t, limit.FallbackOptions{ProbeMin: time.Second, ProbeMax: time.Second})
		ctx := context.Background()
		s := []limit.Scope{{Kind: limit.ScopeKey, ID: "k", Limits: limit.Limits{RequestsPerMinute: 100}}}
		shared.down.Store(true)
		if _, d, err := f.Reserve(ctx, s, 0); err != nil || !d.Allowed || !f.Degraded() {
			t.Fatalf("Reserve = %+v, %v, degraded %v; want served locally", d, err, f.Degraded())
		}
		if n, r := shared.epochCalls(), shared.flaky.calls.Load(); n != 1 || r != 0 {
			t.Fatalf("%d Epoch and %d Reserve calls; want 1 and 0", n, r)
		}
		shared.down.Store(false)
		waitRecovered(t, f)
		calls := shared.log()
		if len(calls) != 1 || calls[0].epoch != "" {
			t.Fatalf("Reconcile calls %+v; want one with no epoch", calls)
		}
		if _, _, err := f.Reserve(ctx, s, 0); err != nil {
			t.Fatal(err)
		}
		shared.down.Store(true)
		if _, _, err := f.Reserve(ctx, s, 0); err != nil {
			t.Fatal(err)
		}
		shared.down.Store(false)
		waitRecovered(t, f)
		calls = shared.log()
		if len(calls) != 2 || calls[1].epoch != "e1" || !hasShared(calls[1].use) {
			t.Fatalf("Reconcile calls %+v; want a second under e1 with the shared use", calls)
		}
		if n := shared.epochCalls(); n != 1 {
			t.Errorf("%d Epoch calls; want 1: the reconciliation told the epoch", n)
		}
	})
}
