package usagetest

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/usage"
)

// Run runs the conformance suite against ledgers made by newLedger, which
// is called once per subtest and must return an empty ledger that lives
// until the test ends.
func Run(t *testing.T, newLedger func(t *testing.T) usage.Ledger) {
	t.Run("Groupings", func(t *testing.T) { testGroupings(t, newLedger(t)) })
	t.Run("Filters", func(t *testing.T) { testFilters(t, newLedger(t)) })
	t.Run("TimeRange", func(t *testing.T) { testTimeRange(t, newLedger(t)) })
	t.Run("TenantIsolation", func(t *testing.T) { testTenantIsolation(t, newLedger(t)) })
	t.Run("UTCDays", func(t *testing.T) { testUTCDays(t, newLedger(t)) })
	t.Run("Idempotent", func(t *testing.T) { testIdempotent(t, newLedger(t)) })
	t.Run("InvalidBatch", func(t *testing.T) { testInvalidBatch(t, newLedger(t)) })
	t.Run("Many", func(t *testing.T) { testMany(t, newLedger(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, newLedger(t)) })
	t.Run("Empty", func(t *testing.T) { testEmpty(t, newLedger(t)) })
	t.Run("Retrieval", func(t *testing.T) { testRetrieval(t, newLedger(t)) })
}

// zone is a fixed non-UTC location: ledgers group by UTC day whatever
// location a record's time is in.
var zone = time.FixedZone("UTC-7", -7*3600)

// day0 is midnight UTC of the first day of the fixtures.
var day0 = time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)

// rec returns a record of tenant/key/alias at day0 + at, with token counts
// and cost derived from n so that sums identify the records summed.
func rec(id, tenantID, keyID, alias string, at time.Duration, n int64) usage.Record {
	return usage.Record{
		ID:               id,
		Time:             day0.Add(at).In(zone),
		RequestID:        "req-" + id,
		TenantID:         tenantID,
		KeyID:            keyID,
		Alias:            alias,
		Target:           "sim/" + alias,
		PromptTokens:     100 * n,
		CompletionTokens: 10 * n,
		CachedTokens:     n,
		Cost:             usage.Nanodollars(1_000_003 * n),
		Latency:          time.Duration(n) * time.Millisecond,
		Attempts:         1,
		Status:           usage.StatusOK,
	}
}

// fixtures spans two tenants, three keys, two aliases and three days.
func fixtures() []usage.Record {
	h := time.Hour
	recs := []usage.Record{
		rec("r01", "a", "ka1", "chat", 1*h, 1),
		rec("r02", "a", "ka1", "chat", 2*h, 2),
		rec("r03", "a", "ka2", "embed", 3*h, 3),
		rec("r04", "a", "ka1", "embed", 25*h, 4),
		rec("r05", "a", "ka2", "chat", 26*h, 5),
		rec("r06", "b", "kb1", "chat", 1*h, 6),
		rec("r07", "b", "kb1", "chat", 49*h, 7),
		rec("r08", "b", "kb1", "embed", 50*h, 8),
	}
	recs[1].Status = "rate_limited"
	recs[1].Attempts = 3
	recs[4].Stream = true
	recs[5].Status = "timeout"
	recs[6].CacheHit = true
	recs[6].Cost = 0
	recs[0].Tags = map[string]string{"team": "support", "env": "prod"}
	recs[1].Tags = map[string]string{"team": "support"}
	recs[3].Tags = map[string]string{"team": "search", "cost/centre": "42"}
	recs[5].Tags = map[string]string{"team": "support"}
	return recs
}

func mustAppend(t *testing.T, l usage.Ledger, recs []usage.Record) {
	t.Helper()
	if err := l.Append(t.Context(), recs); err != nil {
		t.Fatalf("Append(%d records): %v", len(recs), err)
	}
}

// check queries l with f and compares with the reference aggregate of want.
func check(t *testing.T, l usage.Ledger, f usage.Filter, want []usage.Record) {
	t.Helper()
	got, err := l.Query(t.Context(), f)
	if err != nil {
		t.Errorf("Query(%+v): %v", f, err)
		return
	}
	exp := Aggregate(want, f)
	if len(got) == 0 && len(exp) == 0 {
		return
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("Query(%+v) =\n\t%+v\nwant\n\t%+v", f, got, exp)
	}
}

func testGroupings(t *testing.T, l usage.Ledger) {
	recs := fixtures()
	mustAppend(t, l, recs)
	for _, g := range []usage.Group{"", usage.GroupDay, usage.GroupTenant, usage.GroupKey, usage.GroupAlias,
		usage.GroupTag("team"), usage.GroupTag("cost/centre"), usage.GroupTag("absent")} {
		check(t, l, usage.Filter{GroupBy: g}, recs)
	}
	check(t, l, usage.Filter{Tenant: "a", GroupBy: usage.GroupTag("team")}, recs)
	rows, _ := l.Query(t.Context(), usage.Filter{GroupBy: usage.GroupTag("team")})
	if len(rows) != 3 || rows[0].Group != "" || rows[0].Requests != 4 || rows[1].Group != "search" ||
		rows[2].Group != "support" || rows[2].Requests != 3 {
		t.Errorf("Query(by tag team) = %+v; want 4 untagged, 1 search, 3 support", rows)
	}
	// Spot-check the reference itself, so that a wrong Aggregate cannot
	// make every backend pass.
	rows, _ = l.Query(t.Context(), usage.Filter{GroupBy: usage.GroupTenant})
	want := []usage.Row{
		{Group: "a", Requests: 5, Errors: 1, PromptTokens: 1500, CompletionTokens: 150, CachedTokens: 15, Cost: 15_000_045},
		{Group: "b", Requests: 3, Errors: 1, PromptTokens: 2100, CompletionTokens: 210, CachedTokens: 21, Cost: 14_000_042},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("Query(by tenant) = %+v; want %+v", rows, want)
	}
	rows, _ = l.Query(t.Context(), usage.Filter{GroupBy: usage.GroupDay})
	if len(rows) != 3 || rows[0].Group != "2025-03-14" || rows[0].Requests != 4 || rows[2].Group != "2025-03-16" {
		t.Errorf("Query(by day) = %+v; want 3 days from 2025-03-14, 4 requests on the first", rows)
	}
}

func testFilters(t *testing.T, l usage.Ledger) {
	recs := fixtures()
	mustAppend(t, l, recs)
	for _, f := range []usage.Filter{
		{KeyID: "ka1", GroupBy: usage.GroupDay},
		{KeyID: "ka2", GroupBy: usage.GroupAlias},
		{Alias: "embed", GroupBy: usage.GroupTenant},
		{Alias: "chat", GroupBy: usage.GroupKey},
		{Tenant: "a", Alias: "chat", GroupBy: usage.GroupKey},
		{Tenant: "a", KeyID: "ka1", Alias: "embed", GroupBy: usage.GroupDay},
		{KeyID: "nope", GroupBy: usage.GroupDay},
		{Alias: "nope", GroupBy: usage.GroupTenant},
	} {
		check(t, l, f, recs)
	}
}

func testTimeRange(t *testing.T, l usage.Ledger) {
	recs := fixtures()
	mustAppend(t, l, recs)
	h := time.Hour
	for _, f := range []usage.Filter{
		{From: day0.Add(24 * h)},
		{To: day0.Add(24 * h)},
		{From: day0.Add(2 * h), To: day0.Add(26 * h)}, // From inclusive, To exclusive
		{From: day0.Add(2*h + time.Second), To: day0.Add(26*h + time.Second), GroupBy: usage.GroupKey},
		{From: day0.Add(24 * h).In(zone), To: day0.Add(72 * h).In(zone), GroupBy: usage.GroupTenant},
		{From: day0.Add(100 * h)},
		{From: day0.Add(3 * h), To: day0.Add(3 * h)},
	} {
		check(t, l, f, recs)
	}
	if _, err := l.Query(t.Context(), usage.Filter{From: day0.Add(h), To: day0}); err == nil {
		t.Errorf("Query with To before From succeeded")
	}
	if _, err := l.Query(t.Context(), usage.Filter{GroupBy: "week"}); err == nil {
		t.Errorf("Query grouped by an unknown grouping succeeded")
	}
}

func testTenantIsolation(t *testing.T, l usage.Ledger) {
	recs := fixtures()
	mustAppend(t, l, recs)
	for _, g := range []usage.Group{usage.GroupDay, usage.GroupTenant, usage.GroupKey, usage.GroupAlias} {
		for _, tn := range []string{"a", "b"} {
			rows, err := l.Query(t.Context(), usage.Filter{Tenant: tn, GroupBy: g})
			if err != nil {
				t.Fatal(err)
			}
			var n int64
			for _, r := range rows {
				n += r.Requests
				if g == usage.GroupTenant && r.Group != tn {
					t.Errorf("tenant %s's query sees tenant %s", tn, r.Group)
				}
				if g == usage.GroupKey && (r.Group[1] != tn[0]) {
					t.Errorf("tenant %s's query sees key %s", tn, r.Group)
				}
			}
			if want := map[string]int64{"a": 5, "b": 3}[tn]; n != want {
				t.Errorf("tenant %s grouped by %s: %d requests; want %d", tn, g, n, want)
			}
		}
	}
	// Naming another tenant's key or alias does not reach its rows.
	for _, f := range []usage.Filter{
		{Tenant: "a", KeyID: "kb1"},
		{Tenant: "b", KeyID: "ka1", GroupBy: usage.GroupKey},
		{Tenant: "c"},
	} {
		rows, err := l.Query(t.Context(), f)
		if err != nil || len(rows) != 0 {
			t.Errorf("Query(%+v) = %+v, %v; want nothing", f, rows, err)
		}
	}
}

func testUTCDays(t *testing.T, l usage.Ledger) {
	// 23:30 on the 13th in UTC-7 is 06:30 on the 14th in UTC; the last
	// second of a UTC day belongs to it, the next to the following day.
	recs := []usage.Record{
		rec("u1", "a", "k", "chat", -30*time.Minute, 1),
		rec("u2", "a", "k", "chat", 24*time.Hour-time.Second, 1),
		rec("u3", "a", "k", "chat", 24*time.Hour, 1),
		rec("u4", "a", "k", "chat", -time.Second, 1),
	}
	recs[0].Time = time.Date(2025, 3, 13, 23, 30, 0, 0, zone)
	mustAppend(t, l, recs)
	rows, err := l.Query(t.Context(), usage.Filter{GroupBy: usage.GroupDay})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%s:%d", r.Group, r.Requests))
	}
	if want := []string{"2025-03-13:1", "2025-03-14:2", "2025-03-15:1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("days = %v; want %v", got, want)
	}
}

func testIdempotent(t *testing.T, l usage.Ledger) {
	recs := fixtures()
	mustAppend(t, l, recs[:5])
	// A replay overlaps what was stored; a changed copy of a stored record
	// does not replace it; a batch may repeat an ID.
	changed := recs[0]
	changed.PromptTokens = 1_000_000
	replay := append([]usage.Record{changed}, recs[3:]...)
	replay = append(replay, recs[7], recs[0])
	mustAppend(t, l, replay)
	mustAppend(t, l, recs)
	for _, g := range []usage.Group{usage.GroupDay, usage.GroupTenant} {
		check(t, l, usage.Filter{GroupBy: g}, recs)
	}
}

func testInvalidBatch(t *testing.T, l usage.Ledger) {
	good := rec("ok1", "a", "k", "chat", 0, 1)
	for name, bad := range map[string]func(r *usage.Record){
		"no id":           func(r *usage.Record) { r.ID = "" },
		"no tenant":       func(r *usage.Record) { r.TenantID = "" },
		"zero time":       func(r *usage.Record) { r.Time = time.Time{} },
		"negative tokens": func(r *usage.Record) { r.PromptTokens = -1 },
		"NUL in alias":    func(r *usage.Record) { r.Alias = "a\x00b" },
	} {
		r := rec("bad", "a", "k", "chat", 0, 1)
		bad(&r)
		if err := l.Append(t.Context(), []usage.Record{good, r}); err == nil {
			t.Errorf("Append with a record with %s succeeded", name)
		}
	}
	rows, err := l.Query(t.Context(), usage.Filter{})
	if err != nil || len(rows) != 0 {
		t.Errorf("after rejected batches, Query = %+v, %v; want nothing stored", rows, err)
	}
}

func testMany(t *testing.T, l usage.Ledger) {
	const n = 5000
	recs := make([]usage.Record, n)
	for i := range recs {
		tn := []string{"a", "b", "c"}[i%3]
		recs[i] = rec(fmt.Sprintf("m%05d", i), tn, fmt.Sprintf("k%s%d", tn, i%7), []string{"chat", "embed"}[i%2],
			time.Duration(i)*time.Minute, int64(i%11))
	}
	for i := 0; i < n; i += 1000 {
		mustAppend(t, l, recs[i:i+1000])
	}
	for _, f := range []usage.Filter{
		{GroupBy: usage.GroupDay},
		{GroupBy: usage.GroupKey},
		{Tenant: "b", GroupBy: usage.GroupAlias},
		{From: day0.Add(24 * time.Hour), GroupBy: usage.GroupTenant},
	} {
		check(t, l, f, recs)
	}
}

func testConcurrent(t *testing.T, l usage.Ledger) {
	const workers, per = 8, 50
	var all []usage.Record
	batches := make([][]usage.Record, workers)
	for w := range workers {
		for i := range per {
			r := rec(fmt.Sprintf("c%d-%d", w, i), "a", fmt.Sprintf("k%d", w), "chat", time.Duration(i)*time.Second, 1)
			batches[w] = append(batches[w], r)
			all = append(all, r)
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; i < per; i += 10 {
				// Every worker also replays its previous batch.
				from := max(0, i-10)
				if err := l.Append(t.Context(), batches[w][from:i+10]); err != nil {
					t.Errorf("Append: %v", err)
				}
				if _, err := l.Query(t.Context(), usage.Filter{Tenant: "a"}); err != nil {
					t.Errorf("Query: %v", err)
				}
			}
		})
	}
	wg.Wait()
	check(t, l, usage.Filter{GroupBy: usage.GroupKey}, all)
}

func testEmpty(t *testing.T, l usage.Ledger) {
	if err := l.Append(t.Context(), nil); err != nil {
		t.Errorf("Append(nothing) = %v", err)
	}
	rows, err := l.Query(t.Context(), usage.Filter{})
	if err != nil || len(rows) != 0 {
		t.Errorf("Query of an empty ledger = %+v, %v; want nothing", rows, err)
	}
}
