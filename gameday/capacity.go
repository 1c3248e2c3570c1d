package gameday

import (
	"context"
	"fmt"
)

// spikeDrill sends spec.Rate requests a second (five times the alias's
// capacity by default) for the fault phase, and half the capacity before
// and after: the lower classes must be shed first, the higher served.
func (r *runner) spikeDrill(ctx context.Context, name string, spec DrillSpec) Result {
	capRPS := r.t.Deployment.CapacityRPS
	res := Result{Drill: name, Fault: fmt.Sprintf("%.0f requests a second, %.1f× the capacity of %.0f/s", spec.Rate, spec.Rate/capRPS, capRPS)}
	none := func(context.Context) error { return nil }
	return r.phased(ctx, res, spec, capRPS/2, spec.Rate, none, none)
}
