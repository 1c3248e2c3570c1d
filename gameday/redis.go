package gameday

import (
	"context"
	"fmt"
	"time"
)

// redisDrill makes Redis unreachable through the operator's hooks. It
// applies only to the scaled shape: a deployment whose /metrics has no
// bulwark_dependency_up{dependency="redis"} uses no Redis, and one whose
// operator gave no hooks cannot be made to lose it from outside.
func (r *runner) redisDrill(ctx context.Context, name string, spec DrillSpec) Result {
	res := Result{Drill: name, Fault: "Redis is unreachable (the operator's --redis-down, then --redis-up)"}
	m, err := r.adm.scrape(ctx)
	if err != nil {
		res.Outcome, res.Reason = Errored, err.Error()
		return res
	}
	dep := `dependency="redis"`
	switch {
	case !m.has("bulwark_dependency_up", dep):
		res.Outcome, res.Reason = NotApplicable, "embedded shape: the deployment uses no Redis"
		return res
	case r.o.Hooks.RedisDown == nil || r.o.Hooks.RedisUp == nil:
		res.Outcome, res.Reason = NotApplicable, "the deployment uses Redis, but no way to make it unreachable was given (--redis-down and --redis-up)"
		return res
	case m.sum("bulwark_dependency_up", dep) != 1:
		res.Outcome, res.Reason = Errored, "Redis is not up before the drill"
		return res
	}
	// The traffic goes through a key with a limit, so that every request
	// asks the limiter in Redis (or, while it is gone, its local share).
	k, err := r.adm.createKey(ctx, r.t.Deployment.Tenant, "gameday-redis", map[string]int{"requests_per_minute": 1_000_000})
	if err != nil {
		res.Outcome, res.Reason = Errored, fmt.Sprintf("create the limited key: %v", err)
		return res
	}
	defer r.cleanup(ctx, "revoke the limited key "+k.ID, func(ctx context.Context) error { return r.adm.revokeKey(ctx, k.ID) })
	tr := r.tr
	defer func() { r.tr = tr }()
	limited := *tr
	limited.key = k.Secret
	r.tr = &limited

	sawDown := false
	down := func(ctx context.Context) error {
		if err := r.o.Hooks.RedisDown(ctx); err != nil {
			return fmt.Errorf("--redis-down: %w", err)
		}
		// The readiness probe runs every second: see it notice.
		for range 30 {
			if m, err := r.adm.scrape(ctx); err == nil && m.sum("bulwark_dependency_up", dep) == 0 {
				sawDown = true
				return nil
			}
			if err := sleepUntil(ctx, time.Now().Add(100*time.Millisecond)); err != nil {
				return err
			}
		}
		return nil
	}
	up := func(ctx context.Context) error {
		if err := r.o.Hooks.RedisUp(ctx); err != nil {
			return fmt.Errorf("--redis-up: %w", err)
		}
		return nil
	}
	defer r.cleanup(ctx, "bring Redis back (--redis-up)", up)
	res = r.phased(ctx, res, spec, spec.Rate, spec.Rate, down, up)
	if res.Outcome == Errored {
		return res
	}
	res.check("Redis seen down", "bulwark_dependency_up 0", fmt.Sprint(sawDown), sawDown)
	back := false
	for range 50 {
		if m, err := r.adm.scrape(ctx); err == nil && m.sum("bulwark_dependency_up", dep) == 1 {
			back = true
			break
		}
		if sleepUntil(ctx, time.Now().Add(100*time.Millisecond)) != nil {
			break
		}
	}
	res.check("Redis seen back", "bulwark_dependency_up 1", fmt.Sprint(back), back)
	if !sawDown || !back {
		res.Outcome = Failed
	}
	return res
}
