package traffic

import (
	"fmt"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/telemetry"
	"github.com/bulwark-ai/bulwark/usage"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestRecorderBucketsAndTotals(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	r := New(c.now)
	ok := telemetry.RequestRecord{Tenant: "acme", Alias: "chat", Provider: "sim", Model: "sim-chat", Duration: 100 * time.Millisecond, InputTokens: 10, OutputTokens: 20}
	for range 3 {
		r.Request(ok)
	}
	r.Usage(usage.Record{TenantID: "acme", Alias: "chat", Target: "sim/sim-chat", Cost: usage.Nanodollars(2_000_000_000)})
	c.t = c.t.Add(Step)
	shed := telemetry.RequestRecord{Tenant: "acme", Alias: "chat", Status: 429, ErrorType: "shed", Duration: time.Millisecond}
	r.Request(shed)

	w := r.Query(time.Minute)
	if w.Step != 10 || len(w.Times) != 6 {
		t.Fatalf("step %d, %d points; want 10, 6", w.Step, len(w.Times))
	}
	if len(w.Series) != 2 {
		t.Fatalf("series = %+v; want chat on sim/sim-chat and chat with no target", w.Series)
	}
	noTarget, served := w.Series[0], w.Series[1]
	if served.Target != "sim/sim-chat" || served.Requests[4] != 3 || served.Requests[5] != 0 {
		t.Errorf("served = %+v; want 3 requests in the point before last", served)
	}
	if served.Total.InputTokens != 30 || served.Total.OutputTokens != 60 || served.Total.CostUSD != 2 {
		t.Errorf("served totals = %+v", served.Total)
	}
	if p := served.Total.P50; p < 100 || p > 120 {
		t.Errorf("p50 = %vms; want the upper bound of 100ms's bucket (at most 20%% over)", p)
	}
	if noTarget.Target != "" || noTarget.Total.Shed != 1 || noTarget.Total.Errors != 1 || noTarget.Total.ErrorTypes["shed"] != 1 || noTarget.Shed[5] != 1 {
		t.Errorf("shed series = %+v", noTarget)
	}
	if len(w.Tenants) != 1 || w.Tenants[0].Tenant != "acme" || w.Tenants[0].Total.Requests != 4 || w.Tenants[0].Total.Shed != 1 || w.Tenants[0].Total.CostUSD != 2 {
		t.Errorf("tenants = %+v", w.Tenants)
	}

	// An hour later the ring has forgotten it all.
	c.t = c.t.Add(Span)
	if w := r.Query(Span); len(w.Series) != 0 || len(w.Times) != 90 || w.Step != 40 {
		t.Errorf("an hour on: %d series, %d points of %ds; want none, 90 of 40s", len(w.Series), len(w.Times), w.Step)
	}
}

func TestRecorderBoundsSeries(t *testing.T) {
	r := New(func() time.Time { return time.Unix(1_700_000_000, 0) })
	for i := range MaxSeries + 10 {
		r.Request(telemetry.RequestRecord{Alias: fmt.Sprint("a", i), Provider: "p", Model: "m"})
		r.Request(telemetry.RequestRecord{Tenant: fmt.Sprint("t", i)})
	}
	w := r.Query(time.Minute)
	if len(w.Series) != MaxSeries+1 || len(w.Tenants) != MaxTenants+1 {
		t.Fatalf("%d series, %d tenants; want %d and %d (the rest as other)", len(w.Series), len(w.Tenants), MaxSeries+1, MaxTenants+1)
	}
}

func TestPercentile(t *testing.T) {
	var h [latencyBuckets]int64
	for _, d := range []time.Duration{time.Millisecond, 10 * time.Millisecond, time.Second, time.Hour * 10} {
		h[latencyBucket(d)]++
		if b := latencyBounds[latencyBucket(d)]; d < time.Hour && (b < d || float64(b) > 1.2*float64(d)) {
			t.Errorf("bucket bound of %v = %v", d, b)
		}
	}
	if p := percentile(&h, 0.5); p < 10 || p > 12 {
		t.Errorf("p50 = %v; want ~10ms", p)
	}
}

func BenchmarkRecorderRequest(b *testing.B) {
	r := New(nil)
	rec := telemetry.RequestRecord{Tenant: "acme", Alias: "chat", Provider: "sim", Model: "sim-chat", Duration: 100 * time.Millisecond, InputTokens: 10, OutputTokens: 20}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Request(rec)
		}
	})
}
