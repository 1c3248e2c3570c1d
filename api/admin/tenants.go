package admin

import (
	"net/http"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/tenant"
)

// tenantObject is a tenant on the wire.
type tenantObject struct {
	Object string `json:"object"`
	tenant.Tenant
}

func newTenantObject(t tenant.Tenant) tenantObject {
	t.Attributes = wireAttributes(t.Attributes)
	return tenantObject{Object: "tenant", Tenant: t}
}

// wireAttributes returns a with empty maps for nil ones, so that aliases
// and tags are always JSON objects.
func wireAttributes(a tenant.Attributes) tenant.Attributes {
	if a.Aliases == nil {
		a.Aliases = map[string]string{}
	}
	if a.Tags == nil {
		a.Tags = map[string]string{}
	}
	if a.Tools == nil {
		a.Tools = []string{}
	}
	return a
}

type createTenantRequest struct {
	ID     string        `json:"id"`
	Name   string        `json:"name"`
	Limits tenant.Limits `json:"limits"`
	// Aliases, Priority and Tags are the tenant's attributes
	// (tenant.Attributes), checked as a PATCH checks them.
	Aliases  map[string]string `json:"aliases"`
	Priority string            `json:"priority"`
	Tags     map[string]string `json:"tags"`
	// Tools is the tenant's tool allowlist (tenant.Attributes.Tools).
	Tools []string `json:"tools"`
}

func (h *Handler) createTenant(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	if !operator(p) {
		h.fail(w, r, p, operatorOnly("create tenants"))
		return
	}
	var req createTenantRequest
	if err := decode(w, r, &req); err != nil {
		h.fail(w, r, p, err)
		return
	}
	if err := checkTenantID("id", req.ID); err != nil {
		h.fail(w, r, p, err)
		return
	}
	if err := checkText("name", req.Name, maxNameLen); err != nil {
		h.fail(w, r, p, err)
		return
	}
	if err := checkLimits(req.Limits); err != nil {
		h.fail(w, r, p, err)
		return
	}
	attrs := tenant.Attributes{Aliases: req.Aliases, Priority: req.Priority, Tags: req.Tags, Tools: req.Tools}.Clone()
	if err := h.checkAttributes(attrs, req.ID); err != nil {
		h.fail(w, r, p, err)
		return
	}
	if req.Name == "" {
		req.Name = req.ID
	}
	t := tenant.Tenant{ID: req.ID, Name: req.Name, Limits: req.Limits, Attributes: attrs, CreatedAt: h.now().UTC()}
	if err := h.store.CreateTenant(r.Context(), t); err != nil {
		h.fail(w, r, p, storeError(err, describe("tenant", t.ID)))
		return
	}
	h.log.InfoContext(r.Context(), "admin: tenant created", "by_key", p.KeyID, "tenant", t.ID)
	h.audit(r, p, actionTenantCreate, t.ID, t.ID)
	api.WriteJSON(w, http.StatusCreated, newTenantObject(t))
}

func (h *Handler) listTenants(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	ts, err := h.store.Tenants(r.Context())
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	out := make([]tenantObject, 0, len(ts))
	for _, t := range ts {
		if canSee(p, t.ID) {
			out = append(out, newTenantObject(t))
		}
	}
	api.WriteJSON(w, http.StatusOK, newList(out))
}

func (h *Handler) getTenant(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	id := r.PathValue("id")
	if err := checkTenantID("id", id); err != nil {
		h.fail(w, r, p, err)
		return
	}
	if !canSee(p, id) {
		h.fail(w, r, p, notFound(describe("tenant", id)))
		return
	}
	t, err := h.store.Tenant(r.Context(), id)
	if err != nil {
		h.fail(w, r, p, storeError(err, describe("tenant", id)))
		return
	}
	api.WriteJSON(w, http.StatusOK, newTenantObject(t))
}
