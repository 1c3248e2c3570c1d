package traffic

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/bulwark-ai/bulwark/telemetry"
	"github.com/bulwark-ai/bulwark/usage"
)

// Bounds of a Recorder.
const (
	Step       = 10 * time.Second // the width of a bucket
	Span       = time.Hour        // how far back a Recorder remembers
	MaxSeries  = 64               // alias/target series a bucket holds
	MaxTenants = 32               // tenants a bucket holds
	maxPoints  = 90               // points a Query returns at most
)

// latency histogram: bucket i holds durations up to latencyBase·growth^i.
const (
	latencyBase    = time.Millisecond
	latencyGrowth  = 1.2
	latencyBuckets = 64 // up to ~2.8 hours; the last bucket holds the rest
)

var latencyBounds = func() [latencyBuckets]time.Duration {
	var b [latencyBuckets]time.Duration
	for i := range b {
		b[i] = time.Duration(float64(latencyBase) * math.Pow(latencyGrowth, float64(i)))
	}
	return b
}()

var logLatencyGrowth = math.Log(latencyGrowth)

func latencyBucket(d time.Duration) int {
	if d <= latencyBase {
		return 0
	}
	i := int(math.Ceil(math.Log(float64(d)/float64(latencyBase)) / logLatencyGrowth))
	return min(i, latencyBuckets-1)
}

// key names a series: the alias the client asked for and the target
// (provider/model) that served it, or was tried last; empty when no
// upstream was called.
type key struct{ alias, target string }

// counts are a series' (or a tenant's) figures in one bucket.
type counts struct {
	requests, errors, shed int64
	input, output          int64
	cost                   usage.Nanodollars
	errorTypes             map[string]int64
	latency                [latencyBuckets]int64
}

type bucket struct {
	n       int64 // the bucket's number: its start / Step; 0 when unused
	series  map[key]*counts
	tenants map[string]*counts
}

// Recorder is a ring of buckets. It is safe for concurrent use.
type Recorder struct {
	now func() time.Time

	mu      sync.Mutex
	buckets [Span / Step]bucket
}

// New returns an empty Recorder; now is its clock (nil: time.Now).
func New(now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	return &Recorder{now: now}
}

var _ telemetry.Tap = (*Recorder)(nil)

// bucketAt returns the bucket of t, emptied if it held an older one.
// r.mu must be held.
func (r *Recorder) bucketAt(t time.Time) *bucket {
	n := t.UnixNano() / int64(Step)
	b := &r.buckets[n%int64(len(r.buckets))]
	if b.n != n {
		b.n = n
		clear(b.series)
		clear(b.tenants)
		if b.series == nil {
			b.series, b.tenants = map[key]*counts{}, map[string]*counts{}
		}
	}
	return b
}

func (b *bucket) seriesOf(k key) *counts {
	c := b.series[k]
	if c == nil {
		if len(b.series) >= MaxSeries {
			k = key{alias: telemetry.Other}
			if c = b.series[k]; c != nil {
				return c
			}
		}
		c = &counts{}
		b.series[k] = c
	}
	return c
}

func (b *bucket) tenantOf(t string) *counts {
	c := b.tenants[t]
	if c == nil {
		if len(b.tenants) >= MaxTenants {
			t = telemetry.Other
			if c = b.tenants[t]; c != nil {
				return c
			}
		}
		c = &counts{}
		b.tenants[t] = c
	}
	return c
}

// Request counts a finished client request (telemetry.Tap).
func (r *Recorder) Request(rec telemetry.RequestRecord) {
	target := ""
	if rec.Provider != "" {
		target = rec.Provider + "/" + rec.Model
	}
	lat := latencyBucket(rec.Duration)
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.bucketAt(now)
	for _, c := range [2]*counts{b.seriesOf(key{rec.Alias, target}), b.tenantOf(rec.Tenant)} {
		c.requests++
		if rec.ErrorType != "" {
			c.errors++
			if c.errorTypes == nil {
				c.errorTypes = map[string]int64{}
			}
			if len(c.errorTypes) < 32 { // error types are Bulwark's own names
				c.errorTypes[rec.ErrorType]++
			}
			if rec.ErrorType == "shed" {
				c.shed++
			}
		}
		c.input += int64(rec.InputTokens)
		c.output += int64(rec.OutputTokens)
		c.latency[lat]++
	}
}

// Usage adds a usage record's cost to its alias, target and tenant. The
// record's request was counted by Request.
func (r *Recorder) Usage(rec usage.Record) {
	if rec.Cost == 0 {
		return
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.bucketAt(now)
	b.seriesOf(key{rec.Alias, rec.Target}).cost += rec.Cost
	b.tenantOf(rec.TenantID).cost += rec.Cost
}

// Window is the traffic of the last stretch of time: Points buckets of
// Step seconds each, oldest first, the last one still filling.
type Window struct {
	Object string `json:"object"` // "traffic"
	// Step is the width of a point in seconds; Times the start of each
	// point (Unix seconds).
	Step    int64    `json:"step_seconds"`
	Times   []int64  `json:"times"`
	Series  []Series `json:"series"`
	Tenants []Series `json:"tenants"`
	// Replica says the figures are this replica's only.
	Scope string `json:"scope"`
}

// Series is one alias and target's (or one tenant's) traffic: a value a
// point for each figure, and the window's totals.
type Series struct {
	Alias  string `json:"alias,omitempty"`
	Target string `json:"target,omitempty"`
	Tenant string `json:"tenant,omitempty"`

	Requests     []int64   `json:"requests"`
	Errors       []int64   `json:"errors"`
	Shed         []int64   `json:"shed"`
	InputTokens  []int64   `json:"input_tokens"`
	OutputTokens []int64   `json:"output_tokens"`
	CostUSD      []float64 `json:"cost_usd"`
	// P50 and P99 are latency percentiles in milliseconds; 0 for a point
	// without requests.
	P50 []float64 `json:"p50_ms"`
	P99 []float64 `json:"p99_ms"`

	Total Total `json:"total"`
}

// Total sums a Series over its window.
type Total struct {
	Requests     int64            `json:"requests"`
	Errors       int64            `json:"errors"`
	Shed         int64            `json:"shed"`
	InputTokens  int64            `json:"input_tokens"`
	OutputTokens int64            `json:"output_tokens"`
	CostUSD      float64          `json:"cost_usd"`
	P50          float64          `json:"p50_ms"`
	P99          float64          `json:"p99_ms"`
	ErrorTypes   map[string]int64 `json:"error_types,omitempty"`
}

// Query returns the last window of traffic (at most Span), in at most 90
// points: a window longer than 15 minutes merges buckets.
func (r *Recorder) Query(window time.Duration) Window {
	window = min(max(window, Step), Span)
	per := max(int64(1), (int64(window/Step)+maxPoints-1)/maxPoints) // buckets a point
	points := int((int64(window/Step) + per - 1) / per)
	now := r.now()
	last := now.UnixNano() / int64(Step)
	first := last - int64(points)*per + 1 // the oldest bucket shown
	w := Window{Object: "traffic", Step: per * int64(Step/time.Second), Times: make([]int64, points), Scope: "replica"}
	for i := range w.Times {
		w.Times[i] = (first + int64(i)*per) * int64(Step/time.Second)
	}
	series := map[key]*acc{}
	tenants := map[key]*acc{} // by key{alias: tenant}
	get := func(m map[key]*acc, k key) *acc {
		a := m[k]
		if a == nil {
			a = newAcc(points)
			m[k] = a
		}
		return a
	}
	r.mu.Lock()
	for i := range r.buckets {
		b := &r.buckets[i]
		if b.n < first || b.n > last {
			continue
		}
		p := int((b.n - first) / per)
		for k, c := range b.series {
			get(series, k).add(p, c)
		}
		for t, c := range b.tenants {
			get(tenants, key{alias: t}).add(p, c)
		}
	}
	r.mu.Unlock()
	for k, a := range series {
		s := a.series()
		s.Alias, s.Target = k.alias, k.target
		w.Series = append(w.Series, s)
	}
	for t, a := range tenants {
		s := a.series()
		s.Tenant = t.alias
		w.Tenants = append(w.Tenants, s)
	}
	sort.Slice(w.Series, func(i, j int) bool {
		if w.Series[i].Alias != w.Series[j].Alias {
			return w.Series[i].Alias < w.Series[j].Alias
		}
		return w.Series[i].Target < w.Series[j].Target
	})
	sort.Slice(w.Tenants, func(i, j int) bool { return w.Tenants[i].Tenant < w.Tenants[j].Tenant })
	if w.Series == nil {
		w.Series = []Series{}
	}
	if w.Tenants == nil {
		w.Tenants = []Series{}
	}
	return w
}
