package gameday

import (
	"context"
	"fmt"
	"math"
	"time"
)

// limitsDrill checks that a key's requests_per_minute admits as many
// requests as it says, and that a hard budget stops spending where it
// says, each on a key created for the drill and revoked after it.
func (r *runner) limitsDrill(ctx context.Context, name string, spec DrillSpec) Result {
	res := Result{Drill: name, Fault: fmt.Sprintf("a key of %d requests a minute sent %d; a key with a hard budget of $%g sent %d requests",
		spec.RPM, 2*spec.RPM, spec.BudgetUSD, spec.BudgetRequests)}
	tenant := r.t.Deployment.Tenant
	fail := func(err error) Result {
		res.Outcome, res.Reason = Errored, err.Error()
		return res
	}
	var all []Sample

	// The rate limit: twice the limit within a few seconds, far inside
	// the minute, so that exactly the limit is admitted.
	if spec.RPM > 0 {
		k, err := r.adm.createKey(ctx, tenant, "gameday-limit", map[string]int{"requests_per_minute": spec.RPM})
		if err != nil {
			return fail(fmt.Errorf("create the limited key: %w", err))
		}
		defer r.cleanup(ctx, "revoke the limited key", func(ctx context.Context) error { return r.adm.revokeKey(ctx, k.ID) })
		n := 2 * spec.RPM
		rate := float64(n) / 3
		r.progress(name, "%d requests at %.0f/s on a key of %d requests a minute", n, rate, spec.RPM)
		samples := r.keyTraffic(ctx, k.Secret, n, rate)
		all = append(all, samples...)
		accepted := 0
		for _, s := range samples {
			if s.OK() {
				accepted++
			}
		}
		lc := &LimitCheck{Limit: spec.RPM, Sent: n, Accepted: accepted,
			Error: math.Abs(float64(accepted-spec.RPM)) / float64(spec.RPM)}
		res.Limit = lc
		if p := spec.Pass.MaxLimitError; p != nil {
			res.check("limit accuracy", fmt.Sprintf("%d ± %.0f%%", spec.RPM, *p*100), fmt.Sprintf("%d admitted", accepted), lc.Error <= *p)
		}
	}

	// The budget: requests one at a time or so until it refuses, and the
	// spending it records then.
	if spec.BudgetUSD > 0 && spec.BudgetRequests > 0 {
		k, err := r.adm.createKey(ctx, tenant, "gameday-budget", nil)
		if err != nil {
			return fail(fmt.Errorf("create the budget key: %w", err))
		}
		defer r.cleanup(ctx, "revoke the budget key", func(ctx context.Context) error { return r.adm.revokeKey(ctx, k.ID) })
		if err := r.adm.setKeyBudget(ctx, k.ID, spec.BudgetUSD); err != nil {
			return fail(fmt.Errorf("set the budget: %w", err))
		}
		r.progress(name, "%d requests on a key with a hard budget of $%g", spec.BudgetRequests, spec.BudgetUSD)
		samples := r.keyTraffic(ctx, k.Secret, spec.BudgetRequests, 10)
		all = append(all, samples...)
		bc := &BudgetCheck{BudgetUSD: spec.BudgetUSD}
		for _, s := range samples {
			switch {
			case s.OK():
				bc.Served++
			case s.Kind == "rate_limit_error/budget_exceeded":
				bc.Refused++
			}
		}
		// Spending is committed as each answer completes; read it until
		// two reads agree.
		var spent int64 = -1
		for range 20 {
			b, err := r.adm.keyBudget(ctx, k.ID)
			if err != nil {
				return fail(fmt.Errorf("read the budget: %w", err))
			}
			var now int64
			if b.SpentNanodollars != nil {
				now = *b.SpentNanodollars
			}
			if now == spent && (b.Reserved == nil || *b.Reserved == 0) {
				break
			}
			spent = now
			if sleepUntil(ctx, time.Now().Add(200*time.Millisecond)) != nil {
				break
			}
		}
		bc.SpentUSD = float64(spent) / 1e9
		bc.Overshoot = math.Round((bc.SpentUSD-spec.BudgetUSD)/spec.BudgetUSD*1e4) / 1e4
		res.Budget = bc
		if p := spec.Pass.MaxBudgetOvershoot; p != nil {
			res.check("budget accuracy", fmt.Sprintf("spent ≤ $%g + %.0f%%", spec.BudgetUSD, *p*100),
				fmt.Sprintf("$%.6f (%+.1f%%)", bc.SpentUSD, bc.Overshoot*100), bc.Overshoot <= *p)
		}
		res.check("budget enforced", "refusals once spent", fmt.Sprintf("%d refused", bc.Refused), bc.Refused > 0)
	}
	st := Summarize(all)
	res.Stats = &st
	res.Outcome = Passed
	for _, c := range res.Checks {
		if !c.Pass {
			res.Outcome = Failed
		}
	}
	return res
}

// keyTraffic sends n plain requests at rate with key and returns their
// samples.
func (r *runner) keyTraffic(ctx context.Context, key string, n int, rate float64) []Sample {
	tr := *r.tr
	tr.key = key
	at := make([]time.Duration, n)
	for i := range at {
		at[i] = time.Duration(float64(i) / rate * float64(time.Second))
	}
	return tr.run(ctx, time.Now(), at, nil, 0, uint64(r.n))
}
