package gameday

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/config"
)

// DrillNames are the drills, in the order they run.
var DrillNames = []string{
	"provider-outage", "rate-limit-storm", "stalled-streams", "region-lost",
	"redis-lost", "traffic-spike", "limits",
}

// Outcomes of a drill.
const (
	Passed        = "pass"
	Failed        = "fail"
	NotApplicable = "not_applicable" // the deployment has nothing the drill can act on
	Errored       = "error"          // the drill could not be run (the admin API refused, …)
)

// Hooks are what a drill cannot do through the admin API, given by the
// operator: making Redis unreachable and reachable again for redis-lost
// (`docker pause redis`, a firewall rule, a proxy the operator controls).
type Hooks struct {
	RedisDown func(context.Context) error
	RedisUp   func(context.Context) error
}

// Options configure a game day.
type Options struct {
	// URL is the deployment's base URL; AdminKey an admin key of its
	// default tenant.
	URL      string
	AdminKey string
	// Thresholds are the drills' settings and pass criteria (nil: the
	// defaults).
	Thresholds *Thresholds
	// Drills names the drills to run, in any order (nil: all).
	Drills []string
	// DurationScale multiplies every phase's length (0: 1).
	DurationScale float64
	Hooks         Hooks
	// Progress receives a line as each phase begins (nil: nothing).
	Progress io.Writer
	// Client sends every request (nil: a client of its own).
	Client *http.Client
}

// Scorecard is a game day's outcome.
type Scorecard struct {
	URL    string   `json:"url"`
	Scale  float64  `json:"duration_scale"`
	Pass   bool     `json:"pass"`
	Drills []Result `json:"drills"`
	// Warnings are what could not be put back after a drill (a fault not
	// restored, a key not revoked): the operator's to undo.
	Warnings []string `json:"warnings,omitempty"`
}

// Result is one drill's outcome.
type Result struct {
	Drill   string `json:"drill"`
	Fault   string `json:"fault"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	Stats   *Stats `json:"stats,omitempty"`
	// Recovered says whether the drill recovered after its fault, and
	// RecoveryMS how long after clearing it; both absent when the drill
	// does not measure recovery.
	Recovered  *bool        `json:"recovered,omitempty"`
	RecoveryMS *float64     `json:"recovery_ms,omitempty"`
	Limit      *LimitCheck  `json:"limit_accuracy,omitempty"`
	Budget     *BudgetCheck `json:"budget_accuracy,omitempty"`
	// Metrics are what the deployment's own counters moved by over the
	// drill.
	Metrics map[string]float64 `json:"metrics,omitempty"`
	Checks  []Check            `json:"checks"`
}

// LimitCheck compares a key's requests_per_minute with what it admitted.
type LimitCheck struct {
	Limit    int     `json:"limit"`
	Sent     int     `json:"sent"`
	Accepted int     `json:"accepted"`
	Error    float64 `json:"error"` // |accepted − limit| / limit
}

// BudgetCheck compares a hard budget with what was spent under it.
type BudgetCheck struct {
	BudgetUSD float64 `json:"budget_usd"`
	SpentUSD  float64 `json:"spent_usd"`
	Served    int     `json:"served"`
	Refused   int     `json:"refused"`
	Overshoot float64 `json:"overshoot"` // (spent − budget) / budget
}

// Check is one pass criterion and what the drill got.
type Check struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Pass bool   `json:"pass"`
}

// runner runs the drills of one game day.
type runner struct {
	o     Options
	t     *Thresholds
	adm   *admin
	tr    *traffic
	scale float64
	n, of int // the drill under way, of how many

	warnings []string // of cleanup, which runs on the drills' goroutine
}

// Run runs the drills and returns their scorecard. An error is returned
// only when no drill could start (the deployment or its admin API cannot
// be reached); a drill that fails to run is an Errored result.
func Run(ctx context.Context, o Options) (sc *Scorecard, err error) {
	t := o.Thresholds
	if t == nil {
		if t, err = ParseThresholds(nil); err != nil {
			return nil, err
		}
	}
	names := slices.DeleteFunc(slices.Clone(o.Drills), func(n string) bool { return n == "" })
	if len(names) == 0 {
		names = DrillNames
	}
	for _, n := range names {
		if !slices.Contains(DrillNames, n) {
			return nil, fmt.Errorf("no drill %q (there are %v)", n, DrillNames)
		}
	}
	scale := o.DurationScale
	if scale <= 0 {
		scale = 1
	}
	hc := o.Client
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
	}
	r := &runner{o: o, t: t, scale: scale, of: len(names),
		adm: &admin{url: o.URL, key: o.AdminKey, hc: hc}}
	// The traffic goes through a key of the drills' own tenant, revoked
	// at the end, so that the drills' usage is told apart.
	if err := r.adm.ensureTenant(ctx, t.Deployment.Tenant); err != nil {
		return nil, fmt.Errorf("create the drills' tenant: %w", err)
	}
	k, err := r.adm.createKey(ctx, t.Deployment.Tenant, "gameday-traffic", nil)
	if err != nil {
		return nil, fmt.Errorf("create the drills' key: %w", err)
	}
	defer func() {
		r.cleanup(ctx, "revoke the drills' key "+k.ID, func(ctx context.Context) error { return r.adm.revokeKey(ctx, k.ID) })
		if sc != nil {
			sc.Warnings = r.warnings
		} else if len(r.warnings) > 0 {
			err = fmt.Errorf("%w (and %s)", err, strings.Join(r.warnings, "; "))
		}
	}()
	r.tr = &traffic{url: o.URL, key: k.Secret, alias: t.Deployment.Alias, timeout: t.Deployment.RequestTimeout.D(), hc: hc}

	if err := r.warmUp(ctx); err != nil {
		return nil, err
	}

	sc = &Scorecard{URL: o.URL, Scale: scale, Pass: true}
	for _, name := range DrillNames { // in their own order, whatever the flag's
		if !slices.Contains(names, name) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		r.n++
		res := r.drill(ctx, name)
		sc.Drills = append(sc.Drills, res)
		if res.Outcome == Failed || res.Outcome == Errored {
			sc.Pass = false
		}
	}
	return sc, ctx.Err()
}

// warmUp sends a few requests one after another, unscored: a cold
// deployment's first requests are slow, and a wrong alias or a
// deployment that serves nothing is better told before any drill.
func (r *runner) warmUp(ctx context.Context) error {
	var last Sample
	for range 5 {
		last = Sample{Class: "interactive"}
		r.tr.do(ctx, time.Now(), &last)
		if last.OK() {
			return nil
		}
		if last.Status == http.StatusNotFound || last.Status == http.StatusUnauthorized || last.Status == http.StatusForbidden {
			break
		}
	}
	return fmt.Errorf("the alias %q serves nothing before the drills: %d %s", r.t.Deployment.Alias, last.Status, last.Kind)
}

// progress writes a line of progress.
func (r *runner) progress(drill, format string, a ...any) {
	if r.o.Progress != nil {
		fmt.Fprintf(r.o.Progress, "gameday: [%d/%d] %s: %s\n", r.n, r.of, drill, fmt.Sprintf(format, a...))
	}
}

// cleanup runs undo even when ctx has ended, and keeps its failure as a
// warning of the scorecard.
func (r *runner) cleanup(ctx context.Context, what string, undo func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := undo(ctx); err != nil {
		r.warnings = append(r.warnings, fmt.Sprintf("could not %s: %v", what, err))
	}
}

func (r *runner) drill(ctx context.Context, name string) Result {
	spec := r.t.Drills[name]
	d := r.t.Deployment
	switch name {
	case "provider-outage":
		return r.faultDrill(ctx, name, spec, fmt.Sprintf("%s answers 500 and 503 to every call", d.Primary),
			map[Target]config.Faults{d.Primary: {ErrorRates: map[int]float64{500: 0.5, 503: 0.5}}})
	case "rate-limit-storm":
		return r.faultDrill(ctx, name, spec, fmt.Sprintf("%s answers 429 with Retry-After %s to every call", d.Primary, spec.RetryAfter),
			map[Target]config.Faults{d.Primary: {ErrorRates: map[int]float64{429: 1}, RetryAfter: spec.RetryAfter}})
	case "stalled-streams":
		return r.faultDrill(ctx, name, spec, fmt.Sprintf("%s's streams stop after 3 tokens and never go on", d.Primary),
			map[Target]config.Faults{d.Primary: {Stall: config.Fault{Rate: 1, AfterTokens: 3}}})
	case "region-lost":
		return r.faultDrill(ctx, name, spec, fmt.Sprintf("%s resets half its connections and never answers the rest", d.Primary),
			map[Target]config.Faults{d.Primary: {Reset: config.Fault{Rate: 0.5}, Hang: config.Fault{Rate: 0.5}}})
	case "redis-lost":
		return r.redisDrill(ctx, name, spec)
	case "traffic-spike":
		return r.spikeDrill(ctx, name, spec)
	case "limits":
		return r.limitsDrill(ctx, name, spec)
	}
	return Result{Drill: name, Outcome: Errored, Reason: "unknown drill"}
}

// faultDrill injects faults into targets through the admin API for the
// fault phase, with traffic before, during and after, then puts back the
// faults the targets had.
func (r *runner) faultDrill(ctx context.Context, name string, spec DrillSpec, fault string, faults map[Target]config.Faults) Result {
	res := Result{Drill: name, Fault: fault}
	saved := map[Target]config.Faults{}
	for t := range faults {
		f, err := r.adm.faults(ctx, t)
		if err != nil {
			res.Outcome, res.Reason = Errored, fmt.Sprintf("read the faults of %s (is it a sim provider?): %v", t, err)
			return res
		}
		saved[t] = f
	}
	restore := func(ctx context.Context) error {
		var errs []error
		for t, f := range saved {
			errs = append(errs, r.adm.setFaults(ctx, t, f))
		}
		return errors.Join(errs...)
	}
	inject := func(ctx context.Context) error {
		for t, f := range faults {
			if err := r.adm.setFaults(ctx, t, f); err != nil {
				return err
			}
		}
		return nil
	}
	defer r.cleanup(ctx, "restore the faults of "+name, restore)
	return r.phased(ctx, res, spec, spec.Rate, spec.Rate, inject, restore)
}

// phased drives spec's traffic through its three phases, at base
// requests a second before and after the fault and faultRate during it,
// calling inject when the fault phase begins and clear when it ends, and
// scores it.
func (r *runner) phased(ctx context.Context, res Result, spec DrillSpec, base, faultRate float64, inject, clear func(context.Context) error) Result {
	before, during, after := scaled(spec.Before, r.scale), scaled(spec.Fault, r.scale), scaled(spec.After, r.scale)
	// However short the drill, recovery needs a full window after the
	// fault, and a little more to show it.
	after = max(after, r.t.Recovery.Window.D()*3/2)
	at := schedule([]segment{{before, base}, {during, faultRate}, {after, base}})
	m0, _ := r.adm.scrape(ctx)

	start := time.Now()
	var samples []Sample
	done := make(chan struct{})
	tctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		defer close(done)
		samples = r.tr.run(tctx, start, at, spec.Mix, spec.StreamShare, uint64(r.n))
	}()
	r.progress(res.Drill, "%s of traffic at %.0f/s before the fault", before.Round(time.Millisecond), base)
	var err error
	var cleared time.Duration
	if err = sleepUntil(ctx, start.Add(before)); err == nil {
		r.progress(res.Drill, "fault for %s: %s", during.Round(time.Millisecond), res.Fault)
		if err = inject(ctx); err == nil {
			err = sleepUntil(ctx, start.Add(before+during))
		}
		if cerr := clear(context.WithoutCancel(ctx)); err == nil {
			err = cerr
		}
		cleared = time.Since(start)
		r.progress(res.Drill, "fault cleared; %s of traffic to recover", after.Round(time.Millisecond))
	}
	if err != nil {
		stop()
		<-done
		res.Outcome, res.Reason = Errored, err.Error()
		return res
	}
	<-done
	m1, _ := r.adm.scrape(ctx)
	return r.score(res, spec, samples, cleared, before+during+after, m0, m1)
}

func sleepUntil(ctx context.Context, t time.Time) error {
	tm := time.NewTimer(time.Until(t))
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// score summarises samples and checks them against spec.Pass.
func (r *runner) score(res Result, spec DrillSpec, samples []Sample, cleared, end time.Duration, m0, m1 metrics) Result {
	st := Summarize(samples)
	res.Stats = &st
	rec, ok := RecoveryTime(samples, cleared, end, r.t.Recovery.Window.D(), r.t.Recovery.RecoveredAt, 3)
	res.Recovered = &ok
	if ok {
		v := ms(rec)
		res.RecoveryMS = &v
	}
	if m0 != nil && m1 != nil {
		res.Metrics = map[string]float64{
			"fallbacks": m1.sum("bulwark_fallbacks_total") - m0.sum("bulwark_fallbacks_total"),
			"retries":   m1.sum("bulwark_retries_total") - m0.sum("bulwark_retries_total"),
		}
		for _, c := range Classes {
			l := `class="` + c + `"`
			if d := m1.sum("bulwark_shed_total", l) - m0.sum("bulwark_shed_total", l); d > 0 {
				res.Metrics["shed_"+c] = d
			}
		}
	}
	p := spec.Pass
	if p.MinSuccess != nil {
		res.check("success", fmt.Sprintf("≥ %.2f%%", *p.MinSuccess*100), fmt.Sprintf("%.2f%%", st.Success*100), st.Success >= *p.MinSuccess)
	}
	if p.MaxP99 != nil {
		res.check("p99", "≤ "+p.MaxP99.String(), fmt.Sprintf("%.0fms", st.P99MS), st.P99MS <= ms(p.MaxP99.D()))
	}
	if p.MaxRecovery != nil {
		got := "never"
		if ok {
			got = rec.Round(time.Millisecond).String()
		}
		res.check("recovery", "≤ "+p.MaxRecovery.String(), got, ok && rec <= p.MaxRecovery.D())
	}
	if p.MaxTruncated != nil {
		res.check("truncated streams", fmt.Sprintf("≤ %d", *p.MaxTruncated), fmt.Sprint(st.Truncated), st.Truncated <= *p.MaxTruncated)
	}
	for _, c := range Classes {
		want, set := p.MinClassSuccess[c]
		got, sent := st.Classes[c]
		if set && sent {
			res.check(c+" success", fmt.Sprintf("≥ %.2f%%", want*100), fmt.Sprintf("%.2f%%", got*100), got >= want)
		}
	}
	if p.ShedOrder {
		rate := func(c string) float64 {
			n := 0
			for _, s := range samples {
				if s.Class == c {
					n++
				}
			}
			if n == 0 {
				return 0
			}
			return float64(st.Sheds[c]) / float64(n)
		}
		b, i, c := rate("batch"), rate("interactive"), rate("critical")
		res.check("shed order", "batch ≥ interactive ≥ critical",
			fmt.Sprintf("%.1f%% ≥ %.1f%% ≥ %.1f%%", b*100, i*100, c*100), b >= i && i >= c)
	}
	res.Outcome = Passed
	for _, c := range res.Checks {
		if !c.Pass {
			res.Outcome = Failed
		}
	}
	return res
}

func (res *Result) check(name, want, got string, pass bool) {
	res.Checks = append(res.Checks, Check{Name: name, Want: want, Got: got, Pass: pass})
}
