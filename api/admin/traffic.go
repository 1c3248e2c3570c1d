package admin

import (
	"net/http"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/tenant"
)

// Bounds of GET /admin/v1/traffic's window.
const (
	defaultTrafficWindow = 15 * time.Minute
	minTrafficWindow     = time.Minute
	maxTrafficWindow     = time.Hour
)

// Traffic serves this replica's recent traffic per alias and target and
// per tenant, in time buckets, for the admin console's charts (the
// composition root adapts traffic.Recorder's Query, which keeps the last
// hour in memory; each replica answers for itself). Every tenant's figures
// are in it, so it is the operator's.
type Traffic struct {
	query func(window time.Duration) any
}

// NewTraffic returns the traffic API; query returns the last window of
// traffic as a JSON-encodable value.
func NewTraffic(query func(window time.Duration) any) *Traffic { return &Traffic{query: query} }

// Routes returns the traffic routes.
func (t *Traffic) Routes() map[string]HandlerFunc {
	return map[string]HandlerFunc{
		"GET /admin/v1/traffic": t.get,
	}
}

// get answers GET /admin/v1/traffic?window=15m: window is a Go duration
// from 1m to 1h (default 15m).
func (t *Traffic) get(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	if !operator(p) {
		api.WriteError(w, operatorOnly("read every tenant's traffic"))
		return
	}
	window := defaultTrafficWindow
	if s := r.URL.Query().Get("window"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < minTrafficWindow || d > maxTrafficWindow {
			api.WriteError(w, api.BadRequest("window", "window %q is not a duration from 1m to 1h (such as 15m)", s))
			return
		}
		window = d
	}
	api.WriteJSON(w, http.StatusOK, t.query(window))
}
