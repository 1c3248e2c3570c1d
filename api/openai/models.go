package openai

import (
	"net/http"

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

// models lists the aliases the key may use.
func (h *Handler) models(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	list := modelList{Object: "list", Data: []modelWire{}}
	for _, alias := range h.gw.Routes().Aliases() {
		if p.Allows(alias) {
			list.Data = append(list.Data, modelWire{ID: alias, Object: "model", OwnedBy: "bulwark"})
		}
	}
	api.WriteJSON(w, http.StatusOK, list)
}

func (h *Handler) model(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	alias := r.PathValue("model")
	if _, ok := h.gw.Routes().Lookup(alias); !ok || !p.Allows(alias) {
		api.WriteError(w, &gateway.ModelError{Model: alias})
		return
	}
	api.WriteJSON(w, http.StatusOK, modelWire{ID: alias, Object: "model", OwnedBy: "bulwark"})
}
