package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwark-ai/bulwark/tenant"
)

// Readiness answers from what background probes last found, never from
// I/O of its own: a dependency that hangs must not hang /readyz, whose
// callers (a Kubernetes probe, a load balancer) give up after a second and
// would take every replica out of service at once.
const (
	// probeInterval is how often each dependency is probed.
	probeInterval = time.Second
	// probeTimeout bounds one probe, and the first round of probes in New:
	// a dependency that has not answered by then shows as not answering.
	probeTimeout = 500 * time.Millisecond
)

// dependency is a service the app needs (the store, Redis) and what its
// probes last found. It is safe for concurrent use.
type dependency struct {
	name string
	ping func(context.Context) error

	mu      sync.Mutex
	err     error     // of the last probe that ended; nil when it answered
	checked time.Time // when the last probe ended; zero before the first did
	since   time.Time // when the probe under way began; zero when none is
}

// depState is a dependency's state as readiness reports it.
type depState struct {
	up bool
	// problem says why it is not up, in words fit for an unauthenticated
	// endpoint: never an address, a user or a driver's message.
	problem string
	// checked is when a probe last ended; zero before the first did.
	checked time.Time
}

// state returns d's state at now. A probe under way for longer than
// probeTimeout makes d not up, whatever the probe before it found.
func (d *dependency) state(now time.Time) depState {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := depState{checked: d.checked}
	switch {
	case !d.since.IsZero() && now.Sub(d.since) >= probeTimeout, timedOut(d.err):
		s.problem = fmt.Sprintf("no answer within %v", probeTimeout)
	case d.err != nil:
		s.problem = "unreachable (the log has the error)"
	case d.checked.IsZero():
		s.problem = "not probed yet"
	default:
		s.up = true
	}
	return s
}

// timedOut reports whether err is a probe's running out of time.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// checkedMSAgo is how long ago, in milliseconds, d was last probed; -1
// before its first probe ended.
func (s depState) checkedMSAgo(now time.Time) int64 {
	if s.checked.IsZero() {
		return -1
	}
	return now.Sub(s.checked).Milliseconds()
}

// prober probes the app's dependencies in the background, each every
// probeInterval within probeTimeout, and keeps what it found for /readyz
// and the bulwark_dependency_up gauges. A dependency whose probe is still
// under way is not probed again until it ends. stop ends the probes and
// waits for them. A prober is safe for concurrent use.
type prober struct {
	deps   []*dependency
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startProber registers the gauges of deps in reg and starts probing them.
// It returns after the first round of probes ended, or after probeTimeout
// if one did not, so that readiness is right from the start.
func startProber(deps []*dependency, reg prometheus.Registerer, log *slog.Logger) (*prober, error) {
	for _, d := range deps {
		g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "bulwark_dependency_up",
			Help:        "Whether a dependency (the store, Redis) answered its last readiness probe within the probe timeout: 1 or 0.",
			ConstLabels: prometheus.Labels{"dependency": d.name},
		}, func() float64 {
			if d.state(time.Now()).up {
				return 1
			}
			return 0
		})
		if err := reg.Register(g); err != nil {
			return nil, fmt.Errorf("register dependency metrics: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &prober{deps: deps, log: log, ctx: ctx, cancel: cancel}
	ended := make(chan struct{}, len(deps))
	n := p.round(ended)
	t := time.NewTimer(probeTimeout)
	defer t.Stop()
wait:
	for ; n > 0; n-- {
		select {
		case <-ended:
		case <-t.C:
			break wait // the rest show as not answering
		}
	}
	p.wg.Go(p.run)
	return p, nil
}

// run starts a round of probes every probeInterval until stop.
func (p *prober) run() {
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
			p.round(nil)
		}
	}
}

// round starts a probe of every dependency that has none under way and
// returns how many it started; each sends on ended (if not nil) when it
// ends.
func (p *prober) round(ended chan<- struct{}) int {
	n := 0
	for _, d := range p.deps {
		d.mu.Lock()
		busy := !d.since.IsZero()
		if !busy {
			d.since = time.Now()
		}
		d.mu.Unlock()
		if busy {
			continue
		}
		n++
		p.wg.Go(func() {
			p.probe(d)
			if ended != nil {
				ended <- struct{}{}
			}
		})
	}
	return n
}

// probe pings d once and records what it found, logging when d stops or
// starts answering.
func (p *prober) probe(d *dependency) {
	ctx, cancel := context.WithTimeout(p.ctx, probeTimeout)
	err := d.ping(ctx)
	cancel()
	if p.ctx.Err() != nil {
		return // stopping: what a canceled probe found says nothing
	}
	d.mu.Lock()
	wasUp := d.err == nil && !d.checked.IsZero()
	first := d.checked.IsZero()
	d.err, d.checked, d.since = err, time.Now(), time.Time{}
	d.mu.Unlock()
	switch {
	case err != nil && (wasUp || first):
		p.log.Warn("dependency not answering; readiness reports it", "dependency", d.name, "err", err.Error())
	case err == nil && !wasUp && !first:
		p.log.Info("dependency answering again", "dependency", d.name)
	}
}

// stop ends the probes and waits for them.
func (p *prober) stop() {
	if p == nil {
		return
	}
	p.cancel()
	p.wg.Wait()
}

// dependency returns the probed dependency called name, or nil.
func (p *prober) dependency(name string) *dependency {
	if p == nil {
		return nil
	}
	for _, d := range p.deps {
		if d.name == name {
			return d
		}
	}
	return nil
}

// startProbes starts probing the store and, when limits or budgets use
// Redis, Redis: a probe of Redis that fails also moves the limit and
// budget fallbacks to local enforcement, as a failed request would.
func (a *App) startProbes() error {
	deps := []*dependency{{name: "store", ping: a.db.Ping}}
	// Limits and budgets share limits.redis_url: one probe's write says
	// whether Redis answers, and the budgets' probe, run only when it
	// does not, moves budgets to local enforcement too.
	var limits, budgets func(context.Context) error
	if a.fallback != nil {
		limits = a.fallback.Probe
	}
	if a.budgets != nil && a.budgets.fallback != nil {
		budgets = a.budgets.fallback.Probe
	}
	if limits != nil || budgets != nil {
		deps = append(deps, &dependency{name: "redis", ping: func(ctx context.Context) error {
			if limits == nil {
				return budgets(ctx)
			}
			err := limits(ctx)
			if err != nil && budgets != nil {
				_ = budgets(ctx)
			}
			return err
		}})
	}
	p, err := startProber(deps, a.obs.metrics.Registry(), a.log)
	if err != nil {
		return err
	}
	a.probes = p
	return nil
}

// check is one dependency's entry in /readyz.
type check struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// CheckedMSAgo is the age of the probe the check reports, for the
	// probed dependencies (-1: none has ended yet).
	CheckedMSAgo *int64 `json:"checked_ms_ago,omitempty"`
	// Source and AgeSeconds are where the key set in force came from
	// and its age, for the snapshot check (keys.go).
	Source     tenant.Source `json:"source,omitempty"`
	AgeSeconds *int64        `json:"age_seconds,omitempty"`
}

// readyz reports whether the app can serve: 200 with status ok, or
// degraded while it serves without a dependency (the store, with the key
// set it holds; Redis, with local limits and budgets; the request log's
// store) or around failing upstreams; 503 only when it cannot serve. It
// lists every target's circuit breaker and names the models none of whose
// targets is available (every breaker open). Those still answer 200: the
// upstream is out for every replica alike, and taking this one out of the
// load balancer would cost the models that work.
//
// It does no I/O: the store and Redis checks are what the background
// probes last found, with how long ago (checked_ms_ago), so it answers at
// once whatever state a dependency is in.
func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	type target struct {
		Target  string `json:"target"`
		Breaker string `json:"breaker"` // closed, open or half-open
		// RemainingOpenMS is how long an open breaker still refuses calls.
		RemainingOpenMS int64 `json:"remaining_open_ms,omitempty"`
	}
	now := time.Now()
	tbl := a.gw.Routes()
	res := struct {
		Status  string           `json:"status"`
		Checks  map[string]check `json:"checks"`
		Models  int              `json:"models"`
		Targets []target         `json:"targets"`
		// UnavailableModels are the aliases whose every target's breaker
		// is open: they fail fast until one lets a probe through.
		UnavailableModels []string `json:"unavailable_models"`
	}{Status: "ok", Checks: map[string]check{}, Models: len(tbl.Aliases()), Targets: []target{}, UnavailableModels: []string{}}
	degrade := func() {
		if res.Status == "ok" {
			res.Status = "degraded"
		}
	}
	if d := a.probes.dependency("store"); d != nil {
		s := d.state(now)
		age := s.checkedMSAgo(now)
		if s.up {
			res.Checks["store"] = check{Status: "ok", CheckedMSAgo: &age}
		} else {
			// Static stability: with a key set loaded, requests
			// authenticate from it and usage spills locally, so the
			// replica keeps serving.
			if loaded, _, _ := a.keys.Status(); loaded.IsZero() {
				res.Status = "unavailable"
			} else {
				degrade()
			}
			res.Checks["store"] = check{Status: "error", Error: s.problem, CheckedMSAgo: &age}
		}
	}
	if c, ok := a.snapshotCheck(); ok {
		res.Checks["snapshot"] = c
		if c.Status != "ok" {
			degrade()
		}
	}
	if a.usage != nil {
		if st := a.usage.Stats(); st.Backlog || st.Err != nil {
			res.Checks["usage"] = check{Status: "degraded", Error: "usage records are spilled locally until the store takes them"}
			degrade()
		} else {
			res.Checks["usage"] = check{Status: "ok"}
		}
	}
	// Serving goes on with local limits and budgets while Redis is
	// unreachable: degraded, not unavailable.
	redis := depState{up: true}
	var redisAge *int64
	if d := a.probes.dependency("redis"); d != nil {
		redis = d.state(now)
		age := redis.checkedMSAgo(now)
		redisAge = &age
	}
	redisCheck := func(name string, degraded bool, enforcing string) {
		switch {
		case !redis.up:
			res.Checks[name] = check{Status: "degraded", Error: "redis " + redis.problem + "; " + enforcing, CheckedMSAgo: redisAge}
			degrade()
		case degraded:
			res.Checks[name] = check{Status: "degraded", Error: "redis unreachable; " + enforcing, CheckedMSAgo: redisAge}
			degrade()
		default:
			res.Checks[name] = check{Status: "ok", CheckedMSAgo: redisAge}
		}
	}
	if a.fallback != nil {
		redisCheck("limits", a.fallback.Degraded(), "enforcing local limits")
	}
	if a.budgets != nil && a.budgets.fallback != nil {
		redisCheck("budgets", a.budgetsDegraded(), "enforcing a local share of each budget")
	}
	if a.obs != nil && a.obs.reqlog != nil {
		if a.obs.reqlog.Stats().Failing {
			res.Checks["request_log"] = check{Status: "degraded", Error: "the store refuses request log records; they are dropped"}
			degrade()
		} else {
			res.Checks["request_log"] = check{Status: "ok"}
		}
	}
	open := 0
	for _, s := range tbl.States() {
		t := target{Target: s.Target, Breaker: s.Breaker.State, RemainingOpenMS: s.Breaker.RemainingOpen.Milliseconds()}
		if t.Breaker == "open" {
			open++
		}
		res.Targets = append(res.Targets, t)
	}
	for _, alias := range tbl.Aliases() {
		rt, ok := tbl.Lookup(alias)
		if !ok {
			continue
		}
		available := false
		for _, t := range rt.Targets {
			if t.Health == nil || t.Health.Breaker.Ready() {
				available = true
				break
			}
		}
		if !available {
			res.UnavailableModels = append(res.UnavailableModels, alias)
		}
	}
	switch {
	case len(res.UnavailableModels) > 0:
		res.Checks["breakers"] = check{Status: "degraded", Error: fmt.Sprintf("no target available for %s: every circuit breaker is open",
			strings.Join(res.UnavailableModels, ", "))}
		degrade()
	case open > 0:
		res.Checks["breakers"] = check{Status: "degraded", Error: fmt.Sprintf("%d of %d targets have an open circuit breaker; every model still has a target", open, len(res.Targets))}
		degrade()
	default:
		res.Checks["breakers"] = check{Status: "ok"}
	}
	status := http.StatusOK
	if res.Status == "unavailable" {
		status = http.StatusServiceUnavailable
	}
	b, _ := json.Marshal(res)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
