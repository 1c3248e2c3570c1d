package drift

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"
)

// Options configure a Detector. The zero value is valid.
type Options struct {
	// Window is the span of the rolling window and of the baseline
	// (default 1h).
	Window time.Duration
	// Slots is how many slots the window is kept in; the window rolls one
	// slot at a time (default 12).
	Slots int
	// MinSamples is how many observations both the window and the baseline
	// must hold before a dimension gets a score (default 100). Latency,
	// output tokens and finish reasons count successes only.
	MinSamples int
	// KnownAlias reports whether an alias is served; observations of other
	// aliases are dropped. Nil keeps the first MaxAliases aliases seen.
	KnownAlias func(string) bool
	// MaxAliases bounds the aliases tracked (default 1000).
	MaxAliases int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnBaseline, if set, is called with every baseline the Detector
	// takes — an alias's first full window, or Rebaseline — so that it
	// can be stored; it is not called for baselines loaded with
	// SetBaseline. It runs on the goroutine that took the baseline
	// (Observe on the request path, Report, Collect or Rebaseline) after
	// the Detector's locks are released, with a copy it may keep. Calls
	// for one alias are made one at a time, in the order its baselines
	// were taken. It must return quickly: work such as a store write
	// belongs on another goroutine.
	OnBaseline func(alias string, b Snapshot)
}

// Observation is one finished request of an alias.
type Observation struct {
	Alias        string
	PromptTokens int
	// OutputTokens, Latency and FinishReason are counted for successes
	// only (ErrorKind empty).
	OutputTokens int
	Latency      time.Duration
	FinishReason string
	// ErrorKind is empty on success, else the llm.Kind's String.
	ErrorKind string
	// Retrieval is what a grounded request's search found; nil for a
	// request that was not grounded or whose search failed.
	Retrieval *Retrieval
}

// Retrieval is a grounded request's search.
type Retrieval struct {
	// TopScore is the best chunk's score (0 to 1), Chunks how many the
	// model got (0: none above the alias's min_score).
	TopScore float64
	Chunks   int
	// Query is the query's embedding, nil when the search could not
	// embed it; its distance to the baseline's centroid is tracked.
	Query []float32
}

// Detector keeps per-alias distributions and scores their drift. It is
// safe for concurrent use. Lock order: Detector.mu, then series.mu.
type Detector struct {
	o       Options
	slotDur time.Duration

	mu     sync.RWMutex
	series map[string]*series
}

// counts is one histogram per dimension.
type counts [numDimensions][]uint64

func newCounts() counts {
	var c counts
	for d := range c {
		c[d] = make([]uint64, bucketCount[d])
	}
	return c
}

func (c *counts) reset() {
	for d := range c {
		clear(c[d])
	}
}

func (c *counts) add(o *counts) {
	for d := range c {
		for i, n := range o[d] {
			c[d][i] += n
		}
	}
}

type slot struct {
	epoch int64 // slot number since the Unix epoch; 0 is unused
	c     counts
	// q is the sum of the slot's query embeddings (unit vectors) and
	// qn their count, for the window's centroid.
	q  []float64
	qn uint64
}

type series struct {
	mu        sync.Mutex
	slots     []slot
	first     int64 // epoch of the first observation
	baseline  *Snapshot
	baseTaken bool // a baseline was taken or loaded; no automatic one then
	// taken holds the baselines taken whose OnBaseline call is still to
	// come, oldest first; notifying is set while a goroutine makes those
	// calls (notifyBaselines).
	taken     []Snapshot
	notifying bool
}

// New returns a Detector.
func New(o Options) *Detector {
	if o.Window <= 0 {
		o.Window = time.Hour
	}
	if o.Slots <= 0 {
		o.Slots = 12
	}
	if o.MinSamples <= 0 {
		o.MinSamples = 100
	}
	if o.MaxAliases <= 0 {
		o.MaxAliases = 1000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	slotDur := o.Window / time.Duration(o.Slots)
	if slotDur <= 0 {
		slotDur = time.Nanosecond
	}
	return &Detector{o: o, slotDur: slotDur, series: map[string]*series{}}
}

func (d *Detector) epoch(t time.Time) int64 { return t.UnixNano() / int64(d.slotDur) }

// get returns the alias's series, creating it if the alias may be tracked.
func (d *Detector) get(alias string, create bool) *series {
	d.mu.RLock()
	s := d.series[alias]
	d.mu.RUnlock()
	if s != nil || !create {
		return s
	}
	if d.o.KnownAlias != nil && !d.o.KnownAlias(alias) {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if s = d.series[alias]; s != nil {
		return s
	}
	if len(d.series) >= d.o.MaxAliases {
		return nil
	}
	s = &series{slots: make([]slot, d.o.Slots), first: d.epoch(d.o.Now())}
	for i := range s.slots {
		s.slots[i].c = newCounts()
	}
	d.series[alias] = s
	return s
}

// Observe adds a finished request to its alias's rolling window. On a nil
// Detector (drift disabled) it does nothing.
func (d *Detector) Observe(ob Observation) {
	if d == nil || ob.Alias == "" {
		return
	}
	s := d.get(ob.Alias, true)
	if s == nil {
		return
	}
	e := d.epoch(d.o.Now())
	s.mu.Lock()
	notify := d.autoBaseline(s, e)
	sl := &s.slots[int(e%int64(len(s.slots)))]
	if sl.epoch != e {
		sl.epoch = e
		sl.c.reset()
		sl.q, sl.qn = sl.q[:0], 0
	}
	c := &sl.c
	if r := ob.Retrieval; r != nil {
		if r.Chunks > 0 {
			c[RetrievalScore][numericBucket(scoreEdges, r.TopScore)]++
		}
		c[RetrievalChunks][numericBucket(chunkEdges, float64(r.Chunks))]++
		if len(r.Query) > 0 {
			if ref := d.reference(s, e, len(r.Query)); ref != nil {
				c[QueryDistance][numericBucket(distanceEdges, cosineDistance(r.Query, ref))]++
			}
			addQuery(sl, r.Query)
		}
	}
	if ob.PromptTokens > 0 {
		c[PromptTokens][numericBucket(promptEdges, float64(ob.PromptTokens))]++
	}
	if ob.ErrorKind == "" {
		c[ErrorKind][0]++
		c[OutputTokens][numericBucket(outputEdges, float64(ob.OutputTokens))]++
		c[Latency][latencyBucket(ob.Latency)]++
		if ob.FinishReason != "" {
			c[FinishReason][categoryBucket(finishReasons, ob.FinishReason)]++
		}
	} else {
		c[ErrorKind][categoryBucket(errorKinds, ob.ErrorKind)]++
	}
	s.mu.Unlock()
	if notify {
		d.notifyBaselines(ob.Alias, s)
	}
}

// autoBaseline takes the series's first full window as its baseline, once,
// before the slot of epoch e is overwritten, and reports whether the
// caller must call notifyBaselines once it has released s.mu. s.mu must
// be held.
func (d *Detector) autoBaseline(s *series, e int64) bool {
	if s.baseTaken || e < s.first+int64(len(s.slots)) {
		return false
	}
	// The window [first, first+slots) is complete: every slot still holds
	// it (nothing of a later epoch was written yet).
	last := s.first + int64(len(s.slots)) - 1
	w := d.window(s, last)
	start := time.Unix(0, s.first*int64(d.slotDur)).UTC()
	s.baseline = w.snapshot(start, start.Add(d.o.Window))
	s.baseline.Centroid = d.centroid(s, last, 0)
	s.baseTaken = true
	return d.queueBaseline(s)
}

// queueBaseline queues the series's baseline, just taken, for OnBaseline
// and reports whether the caller must deliver the queue
// (notifyBaselines) once it has released s.mu: false when another
// goroutine is delivering it already, which delivers this one too. s.mu
// must be held.
func (d *Detector) queueBaseline(s *series) bool {
	if d.o.OnBaseline == nil {
		return false
	}
	s.taken = append(s.taken, *s.baseline.clone())
	if s.notifying {
		return false
	}
	s.notifying = true
	return true
}

// notifyBaselines calls OnBaseline with the series's queued baselines,
// oldest first, until the queue is empty. s.mu must not be held.
func (d *Detector) notifyBaselines(alias string, s *series) {
	for {
		s.mu.Lock()
		if len(s.taken) == 0 {
			s.taken, s.notifying = nil, false
			s.mu.Unlock()
			return
		}
		b := s.taken[0]
		s.taken[0] = Snapshot{}
		s.taken = s.taken[1:]
		s.mu.Unlock()
		d.o.OnBaseline(alias, b)
	}
}

// window sums the slots of the window ending with epoch last. s.mu must be
// held.
func (d *Detector) window(s *series, last int64) counts {
	w := newCounts()
	for i := range s.slots {
		sl := &s.slots[i]
		if sl.epoch != 0 && sl.epoch <= last && sl.epoch > last-int64(len(s.slots)) {
			w.add(&sl.c)
		}
	}
	return w
}

// Snapshot is a window's distributions: for each dimension (by its
// String), the count in each bucket. It is a plain value a store can keep.
type Snapshot struct {
	Start  time.Time           `json:"start"`
	End    time.Time           `json:"end"`
	Counts map[string][]uint64 `json:"counts"`
	// Centroid is the normalised mean of the window's query embeddings,
	// nil when it had none: the reference of QueryDistance.
	Centroid []float32 `json:"centroid,omitempty"`
}

func (c *counts) snapshot(start, end time.Time) *Snapshot {
	s := &Snapshot{Start: start, End: end, Counts: make(map[string][]uint64, numDimensions)}
	for d := range c {
		s.Counts[Dimension(d).String()] = append([]uint64(nil), c[d]...)
	}
	return s
}

// Samples is the number of observations in the snapshot.
func (s *Snapshot) Samples() uint64 {
	var n uint64
	for _, v := range s.Counts[ErrorKind.String()] {
		n += v
	}
	return n
}

// Baseline returns a copy of the alias's baseline, if it has one.
func (d *Detector) Baseline(alias string) (Snapshot, bool) {
	s := d.get(alias, false)
	if s == nil {
		return Snapshot{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.baseline == nil {
		return Snapshot{}, false
	}
	return *s.baseline.clone(), true
}

func (s *Snapshot) clone() *Snapshot {
	c := &Snapshot{Start: s.Start, End: s.End, Counts: make(map[string][]uint64, len(s.Counts)), Centroid: append([]float32(nil), s.Centroid...)}
	if s.Centroid == nil {
		c.Centroid = nil
	}
	for k, v := range s.Counts {
		c.Counts[k] = append([]uint64(nil), v...)
	}
	return c
}

// SetBaseline loads a stored baseline for an alias; OnBaseline is not
// called. It is an error when the snapshot's buckets do not match this
// version's.
func (d *Detector) SetBaseline(alias string, b Snapshot) error {
	b = *b.clone()
	for _, dim := range Dimensions() {
		n, ok := b.Counts[dim.String()]
		if !ok && dim >= RetrievalScore {
			// A baseline stored before retrieval was tracked: those
			// dimensions have no baseline data, and no score.
			b.Counts[dim.String()] = make([]uint64, bucketCount[dim])
			continue
		}
		if len(n) != bucketCount[dim] {
			return fmt.Errorf("drift baseline of %q: %s has %d buckets, want %d", alias, dim, len(n), bucketCount[dim])
		}
	}
	s := d.get(alias, true)
	if s == nil {
		return fmt.Errorf("drift baseline of %q: alias not tracked", alias)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.baseline, s.baseTaken = b.clone(), true
	return nil
}

// Rebaseline makes the alias's current window its baseline, and reports
// whether the alias is tracked. OnBaseline is called with the new
// baseline before it returns, unless another goroutine is making the
// alias's OnBaseline calls already, which then makes this one too.
func (d *Detector) Rebaseline(alias string) bool {
	s := d.get(alias, false)
	if s == nil {
		return false
	}
	now := d.o.Now()
	s.mu.Lock()
	w := d.window(s, d.epoch(now))
	s.baseline, s.baseTaken = w.snapshot(now.Add(-d.o.Window).UTC(), now.UTC()), true
	s.baseline.Centroid = d.centroid(s, d.epoch(now), 0)
	notify := d.queueBaseline(s)
	s.mu.Unlock()
	if notify {
		d.notifyBaselines(alias, s)
	}
	return true
}

// Score is the drift of one dimension of an alias.
type Score struct {
	Dimension string `json:"dimension"`
	// Ready is set once the window and the baseline both hold MinSamples
	// observations of the dimension; PSI is zero until then.
	PSI   float64 `json:"psi"`
	Ready bool    `json:"ready"`
	// Current and Baseline are the bucket counts compared.
	Current  []uint64 `json:"current"`
	Baseline []uint64 `json:"baseline,omitempty"`
	// Buckets names the buckets (Dimension.Labels), for reading.
	Buckets []string `json:"buckets,omitempty"`
}

// Report is an alias's drift, for the admin API.
type Report struct {
	Alias           string    `json:"alias"`
	CurrentSamples  uint64    `json:"current_samples"`
	BaselineSamples uint64    `json:"baseline_samples"`
	BaselineStart   time.Time `json:"baseline_start,omitzero"`
	Scores          []Score   `json:"scores"`
	// NoContext is, of the grounded requests of each window, the share
	// whose search found nothing above the alias's min_score: the
	// reference data no longer covering the questions shows here first.
	// Nil when the window has no grounded request.
	NoContext *NoContext `json:"no_context,omitempty"`
}

// NoContext is the share of grounded requests answered without context.
type NoContext struct {
	Current  float64 `json:"current"`
	Baseline float64 `json:"baseline"`
}

// noContext is the share of bucket 0 of a RetrievalChunks histogram, and
// whether it has any count.
func noContext(c []uint64) (float64, bool) {
	n := sum(c)
	if n == 0 {
		return 0, false
	}
	return float64(c[0]) / float64(n), true
}

// Report returns the alias's drift report, and whether it is tracked.
func (d *Detector) Report(alias string) (Report, bool) {
	s := d.get(alias, false)
	if s == nil {
		return Report{}, false
	}
	e := d.epoch(d.o.Now())
	s.mu.Lock()
	notify := d.autoBaseline(s, e)
	r := d.report(alias, s, e)
	s.mu.Unlock()
	if notify {
		d.notifyBaselines(alias, s)
	}
	return r, true
}

// report builds the alias's report at epoch e. s.mu must be held.
func (d *Detector) report(alias string, s *series, e int64) Report {
	cur := d.window(s, e)
	r := Report{Alias: alias, CurrentSamples: sum(cur[ErrorKind])}
	if s.baseline != nil {
		r.BaselineSamples = s.baseline.Samples()
		r.BaselineStart = s.baseline.Start
	}
	for _, dim := range Dimensions() {
		sc := Score{Dimension: dim.String(), Current: append([]uint64(nil), cur[dim]...), Buckets: dim.Labels()}
		if s.baseline != nil {
			sc.Baseline = append([]uint64(nil), s.baseline.Counts[dim.String()]...)
			if sum(sc.Current) >= uint64(d.o.MinSamples) && sum(sc.Baseline) >= uint64(d.o.MinSamples) {
				sc.PSI, sc.Ready = PSI(sc.Baseline, sc.Current), true
			}
		}
		r.Scores = append(r.Scores, sc)
		if dim == RetrievalChunks {
			if cur, ok := noContext(sc.Current); ok {
				r.NoContext = &NoContext{Current: cur}
				r.NoContext.Baseline, _ = noContext(sc.Baseline)
			}
		}
	}
	return r
}

// Aliases returns the tracked aliases, sorted.
func (d *Detector) Aliases() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]string, 0, len(d.series))
	for a := range d.series {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

func sum(v []uint64) uint64 {
	var n uint64
	for _, x := range v {
		n += x
	}
	return n
}

// addQuery adds a query embedding to a slot's sum; a query of another
// dimension than the slot's earlier ones (the alias's embedding model
// changed) starts the sum again.
func addQuery(sl *slot, q []float32) {
	if len(sl.q) != len(q) {
		sl.q, sl.qn = make([]float64, len(q)), 0
	}
	for i, x := range q {
		sl.q[i] += float64(x)
	}
	sl.qn++
}

// centroid is the normalised mean of the query embeddings of the window
// ending with epoch last (of dimension dim; 0: of the most common one),
// nil when it has none. s.mu must be held.
func (d *Detector) centroid(s *series, last int64, dim int) []float32 {
	var sum []float64
	for i := range s.slots {
		sl := &s.slots[i]
		if sl.qn == 0 || sl.epoch == 0 || sl.epoch > last || sl.epoch <= last-int64(len(s.slots)) {
			continue
		}
		if dim == 0 {
			dim = len(sl.q)
		}
		if len(sl.q) != dim {
			continue
		}
		if sum == nil {
			sum = make([]float64, dim)
		}
		for j, x := range sl.q {
			sum[j] += x
		}
	}
	if sum == nil {
		return nil
	}
	var norm float64
	for _, x := range sum {
		norm += x * x
	}
	if norm == 0 {
		return nil
	}
	norm = math.Sqrt(norm)
	out := make([]float32, len(sum))
	for i, x := range sum {
		out[i] = float32(x / norm)
	}
	return out
}

// reference is what a query of dimension dim is measured against: the
// baseline's centroid, or, until there is a baseline (or when the model
// changed since), the current window's. s.mu must be held.
func (d *Detector) reference(s *series, e int64, dim int) []float32 {
	if s.baseline != nil && len(s.baseline.Centroid) == dim {
		return s.baseline.Centroid
	}
	return d.centroid(s, e, dim)
}

// cosineDistance is 1 - the cosine similarity of a and b (b unit length).
func cosineDistance(a, b []float32) float64 {
	var dot, na float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
	}
	if na == 0 {
		return 1
	}
	return max(0, 1-dot/math.Sqrt(na))
}
