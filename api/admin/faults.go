package admin

import (
	"log/slog"
	"net/http"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/tenant"
)

// FaultInjector is a provider whose failures can be changed at runtime:
// the simulator, for game days.
type FaultInjector interface {
	Faults(model string) (config.Faults, error)
	SetFaults(model string, f config.Faults) error
}

// Faults serves runtime fault control of simulated providers.
type Faults struct {
	lookup func(provider string) (FaultInjector, bool)
	log    *slog.Logger
}

// NewFaults returns the fault-control API; lookup finds the injector
// behind a provider name in the configuration in force.
func NewFaults(lookup func(provider string) (FaultInjector, bool), log *slog.Logger) *Faults {
	return &Faults{lookup: lookup, log: log}
}

// Routes returns the fault-control routes.
func (f *Faults) Routes() map[string]func(http.ResponseWriter, *http.Request, tenant.Principal) {
	return map[string]func(http.ResponseWriter, *http.Request, tenant.Principal){
		"GET /admin/v1/providers/{provider}/models/{model}/faults": f.get,
		"PUT /admin/v1/providers/{provider}/models/{model}/faults": f.put,
	}
}

func (f *Faults) injector(w http.ResponseWriter, r *http.Request) (FaultInjector, bool) {
	name := r.PathValue("provider")
	inj, ok := f.lookup(name)
	if !ok {
		api.WriteError(w, api.Errorf(http.StatusNotFound, api.TypeNotFound, "provider_not_found",
			"no simulated provider named %q; faults can be injected into sim providers only", name))
	}
	return inj, ok
}

func (f *Faults) get(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	inj, ok := f.injector(w, r)
	if !ok {
		return
	}
	cur, err := inj.Faults(r.PathValue("model"))
	if err != nil {
		api.WriteError(w, api.Errorf(http.StatusNotFound, api.TypeNotFound, "model_not_found", "%v", err))
		return
	}
	api.WriteJSON(w, http.StatusOK, cur)
}

func (f *Faults) put(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	inj, ok := f.injector(w, r)
	if !ok {
		return
	}
	var next config.Faults
	if err := api.DecodeJSON(r, &next); err != nil {
		api.WriteError(w, err)
		return
	}
	model := r.PathValue("model")
	if err := inj.SetFaults(model, next); err != nil {
		api.WriteError(w, api.BadRequest("", "%v", err))
		return
	}
	f.log.Info("admin: faults changed", "key_id", p.KeyID, "provider", r.PathValue("provider"), "model", model)
	api.WriteJSON(w, http.StatusOK, next)
}
