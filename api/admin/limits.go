package admin

import (
	"net/http"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/tenant"
)

// maxLimit bounds a limit a client may set, so that a typo is caught.
const maxLimit = 1_000_000_000

// checkLimits rejects negative or absurd limits.
func checkLimits(l tenant.Limits) error {
	for _, f := range []struct {
		name string
		v    int
	}{{"requests_per_minute", l.RequestsPerMinute}, {"tokens_per_minute", l.TokensPerMinute}, {"concurrent", l.Concurrent}} {
		if f.v < 0 || f.v > maxLimit {
			return api.BadRequest("limits."+f.name, "limits.%s must be between 0 (no limit) and %d, got %d", f.name, maxLimit, f.v)
		}
	}
	return nil
}

// patchRequest is the body of PATCH /admin/v1/tenants/{id} and
// PATCH /admin/v1/keys/{id}: what to change. Only limits can change yet;
// limits given replace the stored ones whole.
type patchRequest struct {
	Limits *tenant.Limits `json:"limits"`
}

func (h *Handler) decodePatch(w http.ResponseWriter, r *http.Request) (tenant.Limits, error) {
	var req patchRequest
	if err := decode(w, r, &req); err != nil {
		return tenant.Limits{}, err
	}
	if req.Limits == nil {
		return tenant.Limits{}, api.BadRequest("limits", "nothing to change: give limits")
	}
	return *req.Limits, checkLimits(*req.Limits)
}

func (h *Handler) patchTenant(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	id := r.PathValue("id")
	if err := checkTenantID("id", id); err != nil {
		h.fail(w, r, p, err)
		return
	}
	if !operator(p) {
		h.fail(w, r, p, operatorOnly("change a tenant's limits"))
		return
	}
	l, err := h.decodePatch(w, r)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	if err := h.store.SetTenantLimits(r.Context(), id, l); err != nil {
		h.fail(w, r, p, storeError(err, describe("tenant", id)))
		return
	}
	if err := h.reload(r); err != nil {
		h.fail(w, r, p, err)
		return
	}
	t, err := h.store.Tenant(r.Context(), id)
	if err != nil {
		h.fail(w, r, p, storeError(err, describe("tenant", id)))
		return
	}
	h.log.InfoContext(r.Context(), "admin: tenant limits changed", "by_key", p.KeyID, "tenant", id)
	h.audit(r, p, actionTenantLimits, id, id)
	api.WriteJSON(w, http.StatusOK, newTenantObject(t))
}

func (h *Handler) patchKey(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	id := r.PathValue("id")
	if err := checkKeyID(id); err != nil {
		h.fail(w, r, p, err)
		return
	}
	if _, err := h.visibleKey(r, p, id); err != nil {
		h.fail(w, r, p, err)
		return
	}
	l, err := h.decodePatch(w, r)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	if err := h.store.SetKeyLimits(r.Context(), id, l); err != nil {
		h.fail(w, r, p, storeError(err, describe("key", id)))
		return
	}
	if err := h.reload(r); err != nil {
		h.fail(w, r, p, err)
		return
	}
	k, err := h.findKey(r, id)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	h.log.InfoContext(r.Context(), "admin: key limits changed", "by_key", p.KeyID, "key", id)
	h.audit(r, p, actionKeyLimits, id, k.TenantID)
	api.WriteJSON(w, http.StatusOK, newKeyObject(k, h.now()))
}
