package gameday

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var v []time.Duration
	for i := 100; i >= 1; i-- { // 1ms … 100ms, unsorted
		v = append(v, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := Percentile(v, c.p); got != c.want {
			t.Errorf("Percentile(%v) = %v; want %v", c.p, got, c.want)
		}
	}
	if v[0] != 100*time.Millisecond {
		t.Error("Percentile sorted its argument")
	}
	if got := Percentile(nil, 0.99); got != 0 {
		t.Errorf("Percentile(nil) = %v", got)
	}
	// Nearest rank: of 10 values the p99 is the largest, one slow
	// request in ten is the p99.
	ten := []time.Duration{1, 1, 1, 1, 1, 1, 1, 1, 1, 9}
	if got := Percentile(ten, 0.99); got != 9 {
		t.Errorf("p99 of ten = %v; want 9", got)
	}
}

// series returns one sample every 100ms for d, failed where bad says.
func series(d time.Duration, bad func(at time.Duration) bool) []Sample {
	var s []Sample
	for at := time.Duration(0); at < d; at += 100 * time.Millisecond {
		x := Sample{At: at, Latency: 10 * time.Millisecond, Class: "interactive"}
		if bad(at) {
			x.Kind = "upstream_error/server"
		}
		s = append(s, x)
	}
	return s
}

func TestRecoveryTime(t *testing.T) {
	sec := time.Second
	// Failing from 2s to 5s, the fault cleared at 4s: the first full
	// one-second window at 95% starts at 5s, a second after clearing.
	s := series(10*sec, func(at time.Duration) bool { return at >= 2*sec && at < 5*sec })
	if got, ok := RecoveryTime(s, 4*sec, 10*sec, sec, 0.95, 3); !ok || got != sec {
		t.Errorf("recovery = %v, %v; want 1s, true", got, ok)
	}
	// Never failing: recovered at once.
	s = series(10*sec, func(time.Duration) bool { return false })
	if got, ok := RecoveryTime(s, 4*sec, 10*sec, sec, 0.95, 3); !ok || got != 0 {
		t.Errorf("healthy: %v, %v; want 0, true", got, ok)
	}
	// One failure in ten is below 95% but not below 90%.
	s = series(10*sec, func(at time.Duration) bool { return at%sec == 0 })
	if _, ok := RecoveryTime(s, 4*sec, 10*sec, sec, 0.95, 3); ok {
		t.Error("recovered at 90% with a threshold of 95%")
	}
	if got, ok := RecoveryTime(s, 4*sec, 10*sec, sec, 0.9, 3); !ok || got != 0 {
		t.Errorf("threshold 90%%: %v, %v; want 0, true", got, ok)
	}
	// Still failing when the traffic ends: never, and a window that runs
	// past the traffic does not count.
	s = series(10*sec, func(at time.Duration) bool { return at >= 2*sec && at < 9500*time.Millisecond })
	if got, ok := RecoveryTime(s, 4*sec, 10*sec, sec, 0.95, 3); ok {
		t.Errorf("recovered at %v in a window past the traffic", got)
	}
	// Too few requests in a window: not evidence of recovery.
	if _, ok := RecoveryTime(series(10*sec, func(time.Duration) bool { return false }), 4*sec, 10*sec, sec, 0.95, 20); ok {
		t.Error("recovered on 10 requests with 20 required")
	}
	if _, ok := RecoveryTime(nil, 0, sec, sec, 0.95, 1); ok {
		t.Error("recovered with no samples")
	}
}

func TestSummarize(t *testing.T) {
	s := []Sample{
		{Class: "critical", Latency: 10 * time.Millisecond},
		{Class: "critical", Latency: 30 * time.Millisecond},
		{Class: "batch", Kind: "server_error/queue_full", Shed: true},
		{Class: "batch", Kind: "server_error/queue_full", Shed: true},
		{Class: "batch", Latency: 20 * time.Millisecond},
		{Class: "interactive", Stream: true, Kind: Truncated},
	}
	st := Summarize(s)
	if st.Requests != 6 || st.Served != 3 || st.Success != 0.5 {
		t.Errorf("counts: %+v", st)
	}
	if st.Errors["server_error/queue_full"] != 2 || st.Errors[Truncated] != 1 || st.Truncated != 1 {
		t.Errorf("errors: %v", st.Errors)
	}
	if st.Sheds["batch"] != 2 || st.Sheds["critical"] != 0 {
		t.Errorf("sheds: %v", st.Sheds)
	}
	if st.Classes["critical"] != 1 || st.Classes["batch"] != 1.0/3 || st.Classes["interactive"] != 0 {
		t.Errorf("by class: %v", st.Classes)
	}
	if st.P99MS != 30 || st.P50MS != 20 {
		t.Errorf("p50 %v p99 %v; want 20, 30", st.P50MS, st.P99MS)
	}
}

func TestSchedule(t *testing.T) {
	at := schedule([]segment{{time.Second, 4}, {500 * time.Millisecond, 0}, {time.Second, 2}})
	want := []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond, 1500 * time.Millisecond, 2 * time.Second}
	if len(at) != len(want) {
		t.Fatalf("schedule = %v; want %v", at, want)
	}
	for i := range want {
		if at[i] != want[i] {
			t.Fatalf("schedule = %v; want %v", at, want)
		}
	}
}

func TestReadStream(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"data: {\"choices\":[]}\n\ndata: [DONE]\n\n", ""},
		{"data: {\"choices\":[]}\n\n", Truncated},
		{"data: {\"choices\":[]}\n\ndata: {\"error\":{\"message\":\"m\",\"type\":\"upstream_error\",\"code\":\"timeout\"}}\n\n", "stream:upstream_error/timeout"},
		{": heartbeat\n\n", Truncated},
	} {
		if got := readStream(strings.NewReader(c.body)); got != c.want {
			t.Errorf("readStream(%q) = %q; want %q", c.body, got, c.want)
		}
	}
}

func TestPickClass(t *testing.T) {
	mix := map[string]float64{"critical": 0.1, "batch": 0.9}
	if pickClass(0.05, mix) != "critical" || pickClass(0.5, mix) != "batch" || pickClass(0.5, nil) != "interactive" {
		t.Error("pickClass")
	}
}

func TestThresholds(t *testing.T) {
	def, err := ParseThresholds(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range DrillNames {
		if _, ok := def.Drills[n]; !ok {
			t.Errorf("no default for drill %s", n)
		}
	}
	// A file names only what it changes; the rest keeps the defaults.
	th, err := ParseThresholds([]byte("deployment: {alias: other}\ndrills:\n  provider-outage: {pass: {max_p99: 1s}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	po := th.Drills["provider-outage"]
	if th.Deployment.Alias != "other" || th.Deployment.CapacityRPS != def.Deployment.CapacityRPS {
		t.Errorf("deployment: %+v", th.Deployment)
	}
	if po.Pass.MaxP99.D() != time.Second || po.Rate != def.Drills["provider-outage"].Rate || *po.Pass.MinSuccess != *def.Drills["provider-outage"].Pass.MinSuccess {
		t.Errorf("provider-outage: %+v", po)
	}
	// The file --print-thresholds prints reads back as the defaults.
	again, err := ParseThresholds(DefaultThresholds)
	if err != nil || !reflect.DeepEqual(again, def) {
		t.Errorf("the built-in file read back: %v\n%+v\n%+v", err, again, def)
	}
	for _, bad := range []string{
		"drills: {nosuch: {rate: 1}}",
		"drills: {provider-outage: {rate: 1, typo: 2}}",
		"deployment: {capacity_rps: 0}",
		"drills: {traffic-spike: {mix: {urgent: 1}}}",
		"recovery: {window: 5}",
	} {
		if _, err := ParseThresholds([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
