package shed

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Controller. Zero fields take the defaults.
type Options struct {
	// MaxInflight bounds the requests being served at once, queued ones
	// included (default 4096); MaxQueued bounds those waiting for a target
	// across all targets (default 1024).
	MaxInflight, MaxQueued int
	// CriticalReserve is the share of MaxInflight only critical requests
	// may use (default 0.1; negative means none).
	CriticalReserve float64
	// MaxWait bounds a wait in a target's queue for requests without a
	// deadline (default 30s).
	MaxWait time.Duration
	// TenantWeights are the tenants' weights in fair sharing (default 1).
	TenantWeights map[string]float64
	// Disabled admits every request at once, at the gate and at every
	// target (the naive proxy); limits still learn from what they see.
	Disabled bool
}

func (o Options) withDefaults() Options {
	if o.MaxInflight <= 0 {
		o.MaxInflight = 4096
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = 1024
	}
	switch {
	case o.CriticalReserve == 0:
		o.CriticalReserve = 0.1
	case o.CriticalReserve < 0:
		o.CriticalReserve = 0
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 30 * time.Second
	}
	return o
}

// Controller is Bulwark's admission control: the process gate and one
// Limiter per target. It is safe for concurrent use. Lock order: the
// Controller's mutex is never held while taking a Limiter's.
type Controller struct {
	opts atomic.Pointer[Options]

	inflight atomic.Int64
	queued   atomic.Int64

	mu       sync.Mutex
	limiters map[string]*Limiter
	shed     [numClasses]map[string]int64 // process gate refusals by reason
	admitted [numClasses]int64
}

// New returns a Controller.
func New(o Options) *Controller {
	c := &Controller{limiters: map[string]*Limiter{}}
	c.Reconfigure(o)
	for i := range c.shed {
		c.shed[i] = map[string]int64{}
	}
	return c
}

// Reconfigure applies new options; limiters and what they learned stay.
// MaxInflight and MaxQueued apply to new admissions.
func (c *Controller) Reconfigure(o Options) {
	o = o.withDefaults()
	c.opts.Store(&o)
}

func (c *Controller) options() *Options { return c.opts.Load() }

func (c *Controller) weight(tenant string) float64 {
	if w, ok := c.options().TenantWeights[tenant]; ok && w > 0 {
		return w
	}
	return 1
}

// Configure sets the configuration of the named target's limiter,
// creating it if needed. A limiter lives as long as the Controller, so
// what it learned survives reloads.
func (c *Controller) Configure(target string, cfg Config) *Limiter {
	c.mu.Lock()
	l, ok := c.limiters[target]
	if !ok {
		l = newLimiter(target, cfg, c)
		c.limiters[target] = l
	}
	c.mu.Unlock()
	if ok {
		l.configure(cfg)
	}
	return l
}

// Target returns the named target's limiter, creating one with the
// default configuration if Configure was never called for it.
func (c *Controller) Target(name string) *Limiter {
	c.mu.Lock()
	l, ok := c.limiters[name]
	c.mu.Unlock()
	if ok {
		return l
	}
	return c.Configure(name, Config{})
}

// enqueue takes a process-wide queue slot, reporting whether there was
// one.
func (c *Controller) enqueue() bool {
	max := int64(c.options().MaxQueued)
	for {
		n := c.queued.Load()
		if n >= max {
			return false
		}
		if c.queued.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (c *Controller) dequeue() { c.queued.Add(-1) }

// Admit admits a request at the process edge: it refuses at once when the
// process serves MaxInflight requests (non-critical ones already at
// MaxInflight less the critical reserve). release must be called once when
// the request is done, for a stream when the stream ends.
func (c *Controller) Admit(r Request) (release func(), err error) {
	o := c.options()
	if o.Disabled {
		return func() {}, nil
	}
	limit := int64(o.MaxInflight)
	if r.Class != Critical {
		limit = max(int64(float64(o.MaxInflight)*(1-o.CriticalReserve)), 1)
	}
	for {
		n := c.inflight.Load()
		if n >= limit {
			c.mu.Lock()
			c.shed[r.Class][ReasonMaxInflight]++
			c.mu.Unlock()
			return nil, &Error{Reason: ReasonMaxInflight, Scope: ScopeSystem, RetryAfter: time.Second, Class: r.Class, Tenant: r.Tenant}
		}
		if c.inflight.CompareAndSwap(n, n+1) {
			break
		}
	}
	c.mu.Lock()
	c.admitted[r.Class]++
	c.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { c.inflight.Add(-1) }) }, nil
}

// Snapshot is the state of admission control, for the admin API and
// metrics.
type Snapshot struct {
	Inflight    int64                       `json:"inflight"`
	MaxInflight int                         `json:"max_inflight"`
	Queued      int64                       `json:"queued"`
	MaxQueued   int                         `json:"max_queued"`
	Admitted    map[string]int64            `json:"admitted"`
	Shed        map[string]map[string]int64 `json:"shed"` // at the process gate, by class then reason
	Targets     []State                     `json:"targets"`
}

// Snapshot returns the current state.
func (c *Controller) Snapshot() Snapshot {
	c.mu.Lock()
	s := Snapshot{Inflight: c.inflight.Load(), MaxInflight: c.options().MaxInflight, Queued: c.queued.Load(), MaxQueued: c.options().MaxQueued,
		Admitted: map[string]int64{}, Shed: map[string]map[string]int64{}}
	for _, k := range Classes {
		s.Admitted[k.String()] = c.admitted[k]
		m := map[string]int64{}
		for r, n := range c.shed[k] {
			m[r] = n
		}
		s.Shed[k.String()] = m
	}
	ls := make([]*Limiter, 0, len(c.limiters))
	for _, l := range c.limiters {
		ls = append(ls, l)
	}
	c.mu.Unlock()
	for _, l := range ls {
		s.Targets = append(s.Targets, l.State())
	}
	sort.Slice(s.Targets, func(i, j int) bool { return s.Targets[i].Target < s.Targets[j].Target })
	return s
}
