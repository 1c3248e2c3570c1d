package admin

import (
	"net/http"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/tenant"
)

// Breakers serves the state of every target's circuit breaker in this
// replica (breakers are local to a replica).
type Breakers struct {
	states func() any
}

// NewBreakers returns the breaker-state API; states returns the state of
// every target in the routing table in force, as a JSON-encodable list (the
// composition root adapts route.Table.States, which this package must not
// import).
func NewBreakers(states func() any) *Breakers {
	return &Breakers{states: states}
}

// Routes returns the breaker-state routes.
func (b *Breakers) Routes() map[string]func(http.ResponseWriter, *http.Request, tenant.Principal) {
	return map[string]func(http.ResponseWriter, *http.Request, tenant.Principal){
		"GET /admin/v1/breakers": b.list,
	}
}

func (b *Breakers) list(w http.ResponseWriter, _ *http.Request, _ tenant.Principal) {
	api.WriteJSON(w, http.StatusOK, map[string]any{"data": b.states()})
}
