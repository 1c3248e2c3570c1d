package openai

import (
	"maps"
	"net/http"
	"slices"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/tenant"
)

type modelWire struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type modelList struct {
	Object string      `json:"object"`
	Data   []modelWire `json:"data"`
}

// usable returns the names of the routing table in force, and whether
// the principal may send a model name: the name resolves, through the
// principal's aliases, to an alias that serves its tenant, and the key may
// call the name. The gateway resolves a request by the same rules.
func (h *Handler) usable(p tenant.Principal) (names []string, ok func(name string) bool) {
	tbl := h.gw.Routes()
	return tbl.Aliases(), func(name string) bool {
		_, found := tbl.LookupFor(p.Alias(name), p.TenantID)
		return found && p.Allows(name)
	}
}

// models lists the names the key may send as "model", sorted: the
// configured aliases it may use and the names its aliases map.
func (h *Handler) models(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	names, usable := h.usable(p)
	list := modelList{Object: "list", Data: []modelWire{}}
	for _, name := range h.listed(p, names) {
		if usable(name) {
			list.Data = append(list.Data, modelWire{ID: name, Object: "model", OwnedBy: "bulwark"})
		}
	}
	api.WriteJSON(w, http.StatusOK, list)
}

// listed returns names and the names of the principal's aliases, sorted.
func (h *Handler) listed(p tenant.Principal, names []string) []string {
	if len(p.Aliases) > 0 {
		names = slices.Concat(names, slices.Collect(maps.Keys(p.Aliases)))
		slices.Sort(names)
		names = slices.Compact(names)
	}
	return names
}

func (h *Handler) model(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	name := r.PathValue("model")
	if _, usable := h.usable(p); !usable(name) {
		api.WriteError(w, &gateway.ModelError{Model: name})
		return
	}
	api.WriteJSON(w, http.StatusOK, modelWire{ID: name, Object: "model", OwnedBy: "bulwark"})
}
