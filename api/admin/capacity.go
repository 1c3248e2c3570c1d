package admin

import (
	"net/http"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/tenant"
)

// Capacity serves the state of admission control in this replica: the
// process's in-flight and queued requests against their maximums, and
// per target its learned concurrency limit, in-flight calls, queue depth
// per priority class, and admissions and sheds per class, reason and
// tenant.
type Capacity struct {
	state func() any
}

// NewCapacity returns the capacity API; state returns the snapshot as a
// JSON-encodable value (the composition root adapts shed.Controller's
// Snapshot).
func NewCapacity(state func() any) *Capacity { return &Capacity{state: state} }

// Routes returns the capacity routes.
func (c *Capacity) Routes() map[string]func(http.ResponseWriter, *http.Request, tenant.Principal) {
	return map[string]func(http.ResponseWriter, *http.Request, tenant.Principal){
		"GET /admin/v1/capacity": c.get,
	}
}

func (c *Capacity) get(w http.ResponseWriter, _ *http.Request, _ tenant.Principal) {
	api.WriteJSON(w, http.StatusOK, c.state())
}
