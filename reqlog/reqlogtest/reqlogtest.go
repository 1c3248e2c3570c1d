package reqlogtest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/reqlog"
)

// Run runs the conformance suite against stores made by newStore, which
// is called once per subtest and must return an empty store that lives
// until the test ends.
func Run(t *testing.T, newStore func(t *testing.T) reqlog.Store) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newStore(t)) })
	t.Run("Idempotent", func(t *testing.T) { testIdempotent(t, newStore(t)) })
	t.Run("NewestFirstAndPages", func(t *testing.T) { testPages(t, newStore(t)) })
	t.Run("Filters", func(t *testing.T) { testFilters(t, newStore(t)) })
	t.Run("TenantIsolation", func(t *testing.T) { testTenantIsolation(t, newStore(t)) })
	t.Run("ReusedRequestID", func(t *testing.T) { testReusedRequestID(t, newStore(t)) })
	t.Run("Prune", func(t *testing.T) { testPrune(t, newStore(t)) })
	t.Run("InvalidBatch", func(t *testing.T) { testInvalidBatch(t, newStore(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, newStore(t)) })
	t.Run("Empty", func(t *testing.T) { testEmpty(t, newStore(t)) })
}

// zone is a fixed non-UTC location: stores return times in UTC whatever
// location a record's time is in.
var zone = time.FixedZone("UTC-7", -7*3600)

// t0 is the time of the first fixture, with nanoseconds: stores keep
// them.
var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.UTC)

func rec(id, tenantID, alias string, at time.Duration, status int, errType string) reqlog.Record {
	return reqlog.Record{
		ID:               id,
		Time:             t0.Add(at).In(zone),
		RequestID:        "req-" + id,
		TenantID:         tenantID,
		KeyID:            "key-" + tenantID,
		Alias:            alias,
		Target:           "sim/" + alias,
		Operation:        "chat",
		Status:           status,
		ErrorType:        errType,
		Latency:          120 * time.Millisecond,
		Overhead:         1500 * time.Microsecond,
		TimeToFirstToken: 80 * time.Millisecond,
		PromptTokens:     12,
		CompletionTokens: 34,
		FinishReason:     "stop",
		Attempts:         []reqlog.Attempt{{Target: "sim/" + alias, Duration: 118 * time.Millisecond}},
	}
}

// fixtures span two tenants, two aliases and several outcomes; r03 and
// r04 share a time, so the ID breaks the tie.
func fixtures() []reqlog.Record {
	s := time.Second
	return []reqlog.Record{
		rec("r01", "a", "chat", 1*s, 200, ""),
		rec("r02", "a", "chat", 2*s, 429, "rate_limited"),
		rec("r03", "a", "embed", 3*s, 200, ""),
		rec("r04", "b", "chat", 3*s, 503, "overloaded"),
		rec("r05", "a", "chat", 5*s, 200, "stream_broken"),
		rec("r06", "b", "embed", 6*s, 200, ""),
		rec("r07", "a", "chat", 7*s, 504, "timeout"),
	}
}

func mustAppend(t *testing.T, s reqlog.Store, recs []reqlog.Record) {
	t.Helper()
	if err := s.AppendRequests(t.Context(), recs); err != nil {
		t.Fatalf("AppendRequests: %v", err)
	}
}

func mustList(t *testing.T, s reqlog.Store, f reqlog.Filter) []reqlog.Record {
	t.Helper()
	got, err := s.Requests(t.Context(), f)
	if err != nil {
		t.Fatalf("Requests(%+v): %v", f, err)
	}
	return got
}

func ids(recs []reqlog.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// want is what a store must list for f over fixtures.
func want(f reqlog.Filter) []string {
	m := &Memory{}
	_ = m.AppendRequests(context.Background(), fixtures())
	got, _ := m.Requests(context.Background(), f)
	return ids(got)
}

func testRoundTrip(t *testing.T, s reqlog.Store) {
	r := rec("full", "a", "chat", 0, 200, "")
	r.Stream = true
	r.UsageCounted = true
	r.Attempts = []reqlog.Attempt{
		{Target: "p/one", ErrorKind: "overloaded", Status: 503, Duration: 3 * time.Millisecond},
		{Target: "p/two", ErrorKind: "timeout", Duration: 40 * time.Millisecond, Hedge: true},
		{Target: "p/three", ErrorKind: "stream_broken", Duration: 90 * time.Millisecond, Break: "cut"},
		{Target: "p/four", Duration: 70 * time.Millisecond, Continues: true},
	}
	r.Content = &reqlog.Content{
		Messages:   []reqlog.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "héllo \"quoted\"\n"}},
		Completion: "hi there",
		Truncated:  true,
	}
	r.Tools = &reqlog.Tools{Removed: []string{"shell", "crm.delete"}, Calls: 2, Invalid: "tool_call_invalid", Reasked: true}
	r.Guardrails = []reqlog.Guardrail{
		{Stage: "input", Check: "pii", Action: "mask"},
		{Stage: "input", Check: "classifier", Action: "skipped"},
		{Stage: "output", Check: "denied_terms", Action: "block"},
	}
	mustAppend(t, s, []reqlog.Record{r})
	got, err := s.RequestByID(t.Context(), "", r.RequestID)
	if err != nil {
		t.Fatalf("RequestByID: %v", err)
	}
	if !got.Time.Equal(r.Time) || got.Time.Location() != time.UTC {
		t.Errorf("time = %v; want %v in UTC", got.Time, r.Time)
	}
	exp := r
	exp.Time = r.Time.UTC()
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, exp)
	}
	list := mustList(t, s, reqlog.Filter{})
	if len(list) != 1 || list[0].Content != nil {
		t.Fatalf("Requests = %+v; want the record without its content", list)
	}
	exp.Content = nil
	if !reflect.DeepEqual(list[0], exp) {
		t.Errorf("listed:\n got %+v\nwant %+v", list[0], exp)
	}

	// No attempts and no content come back as such.
	bare := rec("bare", "a", "chat", time.Second, 404, "model_not_found")
	bare.Attempts, bare.Target = nil, ""
	mustAppend(t, s, []reqlog.Record{bare})
	got, err = s.RequestByID(t.Context(), "a", bare.RequestID)
	if err != nil || len(got.Attempts) != 0 || got.Content != nil || got.Target != "" {
		t.Errorf("bare record = %+v, %v", got, err)
	}
}

func testIdempotent(t *testing.T, s reqlog.Store) {
	recs := fixtures()
	mustAppend(t, s, recs)
	mustAppend(t, s, recs)
	mustAppend(t, s, recs[:2])
	if got := mustList(t, s, reqlog.Filter{}); len(got) != len(recs) {
		t.Errorf("after appending twice: %d records; want %d", len(got), len(recs))
	}
}

func testPages(t *testing.T, s reqlog.Store) {
	mustAppend(t, s, fixtures())
	all := mustList(t, s, reqlog.Filter{})
	if got, exp := ids(all), []string{"r07", "r06", "r05", "r04", "r03", "r02", "r01"}; !reflect.DeepEqual(got, exp) {
		t.Fatalf("newest first = %v; want %v", got, exp)
	}
	var pages [][]string
	f := reqlog.Filter{Limit: 3}
	for range 5 {
		page := mustList(t, s, f)
		if len(page) == 0 {
			break
		}
		pages = append(pages, ids(page))
		c, err := reqlog.ParseCursor(reqlog.CursorOf(page[len(page)-1]).String())
		if err != nil {
			t.Fatal(err)
		}
		f.After = c
	}
	exp := [][]string{{"r07", "r06", "r05"}, {"r04", "r03", "r02"}, {"r01"}}
	if !reflect.DeepEqual(pages, exp) {
		t.Errorf("pages = %v; want %v", pages, exp)
	}
}

func testFilters(t *testing.T, s reqlog.Store) {
	mustAppend(t, s, fixtures())
	for _, f := range []reqlog.Filter{
		{Tenant: "a"},
		{Tenant: "b"},
		{Alias: "chat"},
		{Tenant: "a", Alias: "embed"},
		{Status: 200},
		{Status: 429},
		{Result: reqlog.ResultOK},
		{Result: reqlog.ResultError},
		{Result: "timeout"},
		{Result: "stream_broken", Status: 200},
		{Since: t0.Add(3 * time.Second)},
		{Until: t0.Add(3 * time.Second)},
		{Since: t0.Add(2 * time.Second), Until: t0.Add(6 * time.Second), Tenant: "a"},
		{Tenant: "nobody"},
		{Limit: 2, Result: reqlog.ResultError},
	} {
		got := ids(mustList(t, s, f))
		if exp := want(f); !reflect.DeepEqual(got, exp) {
			t.Errorf("Requests(%+v) = %v; want %v", f, got, exp)
		}
	}
	if _, err := s.Requests(t.Context(), reqlog.Filter{Since: t0, Until: t0.Add(-time.Second)}); err == nil {
		t.Error("a filter with until before since was answered")
	}
}

func testTenantIsolation(t *testing.T, s reqlog.Store) {
	mustAppend(t, s, fixtures())
	for _, r := range mustList(t, s, reqlog.Filter{Tenant: "b"}) {
		if r.TenantID != "b" {
			t.Errorf("tenant b's listing holds %s of tenant %s", r.ID, r.TenantID)
		}
	}
	if _, err := s.RequestByID(t.Context(), "b", "req-r01"); !errors.Is(err, reqlog.ErrNotFound) {
		t.Errorf("tenant b reading tenant a's request: %v; want ErrNotFound", err)
	}
	if r, err := s.RequestByID(t.Context(), "a", "req-r01"); err != nil || r.ID != "r01" {
		t.Errorf("tenant a reading its request: %+v, %v", r, err)
	}
	if _, err := s.RequestByID(t.Context(), "", "req-none"); !errors.Is(err, reqlog.ErrNotFound) {
		t.Errorf("unknown request id: %v; want ErrNotFound", err)
	}
	// By the record's own id, as listings show it.
	if r, err := s.RequestByID(t.Context(), "a", "r01"); err != nil || r.RequestID != "req-r01" {
		t.Errorf("tenant a reading its record by its id: %+v, %v", r, err)
	}
	if _, err := s.RequestByID(t.Context(), "b", "r01"); !errors.Is(err, reqlog.ErrNotFound) {
		t.Errorf("tenant b reading tenant a's record by its id: %v; want ErrNotFound", err)
	}
}

func testReusedRequestID(t *testing.T, s reqlog.Store) {
	first, second := rec("x1", "a", "chat", 0, 200, ""), rec("x2", "a", "chat", time.Minute, 500, "server")
	first.RequestID, second.RequestID = "same", "same"
	mustAppend(t, s, []reqlog.Record{second, first})
	if r, err := s.RequestByID(t.Context(), "", "same"); err != nil || r.ID != "x2" {
		t.Errorf("RequestByID of a reused id = %+v, %v; want the newest, x2", r.ID, err)
	}
	if got := mustList(t, s, reqlog.Filter{}); len(got) != 2 {
		t.Errorf("a reused request id erased a record: %v", ids(got))
	}
}

func testPrune(t *testing.T, s reqlog.Store) {
	mustAppend(t, s, fixtures())
	n, err := s.PruneRequests(t.Context(), t0.Add(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("pruned %d; want 2 (r01, r02)", n)
	}
	if got, exp := ids(mustList(t, s, reqlog.Filter{})), []string{"r07", "r06", "r05", "r04", "r03"}; !reflect.DeepEqual(got, exp) {
		t.Errorf("after pruning: %v; want %v", got, exp)
	}
	if n, err := s.PruneRequests(t.Context(), t0); err != nil || n != 0 {
		t.Errorf("pruning again = %d, %v", n, err)
	}
}

func testInvalidBatch(t *testing.T, s reqlog.Store) {
	good, bad := rec("good", "a", "chat", 0, 200, ""), rec("", "a", "chat", 0, 200, "")
	if err := s.AppendRequests(t.Context(), []reqlog.Record{good, bad}); err == nil {
		t.Fatal("a batch with an invalid record was accepted")
	}
	if got := mustList(t, s, reqlog.Filter{}); len(got) != 0 {
		t.Errorf("a rejected batch stored %v", ids(got))
	}

	// Too many guardrail findings make a record invalid too.
	many := rec("many", "a", "chat", 0, 200, "")
	many.Guardrails = make([]reqlog.Guardrail, reqlog.MaxGuardrails+1)
	for i := range many.Guardrails {
		many.Guardrails[i] = reqlog.Guardrail{Stage: "input", Check: "pii", Action: "log"}
	}
	if err := s.AppendRequests(t.Context(), []reqlog.Record{good, many}); err == nil {
		t.Fatalf("a record with %d guardrail findings was accepted", len(many.Guardrails))
	}
	if got := mustList(t, s, reqlog.Filter{}); len(got) != 0 {
		t.Errorf("a rejected batch stored %v", ids(got))
	}
}

func testConcurrent(t *testing.T, s reqlog.Store) {
	const writers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			batch := make([]reqlog.Record, each)
			for i := range batch {
				batch[i] = rec(fmt.Sprintf("c%d-%02d", w, i), "a", "chat", time.Duration(i)*time.Millisecond, 200, "")
			}
			errs <- s.AppendRequests(t.Context(), batch)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := mustList(t, s, reqlog.Filter{Limit: reqlog.MaxLimit}); len(got) != writers*each {
		t.Errorf("%d records; want %d", len(got), writers*each)
	}
}

func testEmpty(t *testing.T, s reqlog.Store) {
	if got := mustList(t, s, reqlog.Filter{Tenant: "a"}); got == nil || len(got) != 0 {
		t.Errorf("empty store lists %v; want an empty, non-nil list", got)
	}
	if err := s.AppendRequests(t.Context(), nil); err != nil {
		t.Errorf("appending nothing: %v", err)
	}
	if n, err := s.PruneRequests(t.Context(), time.Now()); err != nil || n != 0 {
		t.Errorf("pruning nothing = %d, %v", n, err)
	}
}
