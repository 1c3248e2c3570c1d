package admin

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/tenant"
)

// Key statuses on the wire.
const (
	statusActive  = "active"
	statusRevoked = "revoked"
	statusExpired = "expired"
)

// keyObject is a key on the wire. Its hash is never shown (tenant.Key does
// not marshal it); its secret only in the response that creates it.
type keyObject struct {
	Object string `json:"object"`
	tenant.Key
	Status string `json:"status"`
	Secret string `json:"secret,omitempty"`
}

func newKeyObject(k tenant.Key, now time.Time) keyObject {
	if k.Models == nil {
		k.Models = []string{}
	}
	k.Attributes = wireAttributes(k.Attributes)
	status := statusActive
	switch {
	case k.RevokedAt != nil:
		status = statusRevoked
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		status = statusExpired
	}
	return keyObject{Object: "key", Key: k, Status: status}
}

type createKeyRequest struct {
	TenantID string   `json:"tenant_id"`
	Name     string   `json:"name"`
	Admin    bool     `json:"admin"`
	Models   []string `json:"models"`
	// ExpiresAt is an RFC 3339 time; ExpiresIn a Go duration such as
	// "720h". At most one may be given; neither means the key never
	// expires.
	ExpiresAt string `json:"expires_at"`
	ExpiresIn string `json:"expires_in"`
	// Limits are the key's own limits (limits.go); zero fields limit
	// nothing.
	Limits tenant.Limits `json:"limits"`
	// Aliases, Priority and Tags are the key's attributes, over its
	// tenant's (tenant.Attributes), checked as a PATCH checks them.
	Aliases  map[string]string `json:"aliases"`
	Priority string            `json:"priority"`
	Tags     map[string]string `json:"tags"`
	// Tools is the key's tool allowlist (tenant.Attributes.Tools).
	Tools []string `json:"tools"`
}

// key validates the request and returns the key it asks for, without ID,
// prefix or hash.
func (req createKeyRequest) key(now time.Time) (tenant.Key, error) {
	if err := checkTenantID("tenant_id", req.TenantID); err != nil {
		return tenant.Key{}, err
	}
	if err := checkText("name", req.Name, maxNameLen); err != nil {
		return tenant.Key{}, err
	}
	if len(req.Models) > maxModels {
		return tenant.Key{}, api.BadRequest("models", "models lists %d aliases; at most %d are allowed", len(req.Models), maxModels)
	}
	for i, m := range req.Models {
		if m == "" {
			return tenant.Key{}, api.BadRequest("models", "models[%d] is empty", i)
		}
		if err := checkText("models", m, maxModelLen); err != nil {
			return tenant.Key{}, err
		}
		if slices.Contains(req.Models[:i], m) {
			return tenant.Key{}, api.BadRequest("models", "models lists %q twice", m)
		}
	}
	k := tenant.Key{
		TenantID:   req.TenantID,
		Name:       req.Name,
		Admin:      req.Admin,
		Models:     slices.Clone(req.Models),
		Attributes: tenant.Attributes{Aliases: req.Aliases, Priority: req.Priority, Tags: req.Tags, Tools: req.Tools}.Clone(),
		CreatedAt:  now,
	}
	if err := checkLimits(req.Limits); err != nil {
		return tenant.Key{}, err
	}
	k.Limits = req.Limits
	switch {
	case req.ExpiresAt != "" && req.ExpiresIn != "":
		return tenant.Key{}, api.BadRequest("expires_at", "give expires_at or expires_in, not both")
	case req.ExpiresAt != "":
		t, err := time.Parse(time.RFC3339, req.ExpiresAt)
		if err != nil {
			return tenant.Key{}, api.BadRequest("expires_at", "expires_at must be an RFC 3339 time such as 2030-01-02T15:04:05Z, not %q", req.ExpiresAt)
		}
		if !t.After(now) {
			return tenant.Key{}, api.BadRequest("expires_at", "expires_at %s is not in the future", req.ExpiresAt)
		}
		t = t.UTC()
		k.ExpiresAt = &t
	case req.ExpiresIn != "":
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil {
			return tenant.Key{}, api.BadRequest("expires_in", "expires_in must be a duration such as \"720h\", not %q", req.ExpiresIn)
		}
		if d <= 0 {
			return tenant.Key{}, api.BadRequest("expires_in", "expires_in must be positive")
		}
		t := now.Add(d)
		k.ExpiresAt = &t
	}
	return k, nil
}

func (h *Handler) createKey(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	var req createKeyRequest
	if err := decode(w, r, &req); err != nil {
		h.fail(w, r, p, err)
		return
	}
	now := h.now().UTC()
	k, err := req.key(now)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	if !canSee(p, k.TenantID) {
		e := notFound(describe("tenant", k.TenantID))
		e.Param = "tenant_id"
		h.fail(w, r, p, e)
		return
	}
	if err := h.checkKeyAttributes(r, p, k.Attributes, k.TenantID); err != nil {
		if e := api.AsError(err); e.Status == http.StatusNotFound {
			e.Param = "tenant_id"
			err = e
		}
		h.fail(w, r, p, err)
		return
	}
	secret, prefix, hash, err := tenant.NewSecret()
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	k.ID, k.Prefix, k.Hash = tenant.NewID("key"), prefix, hash
	if err := h.store.CreateKey(r.Context(), k); err != nil {
		if errors.Is(err, tenant.ErrNotFound) {
			e := notFound(describe("tenant", k.TenantID))
			e.Param = "tenant_id"
			err = e
		} else {
			err = storeError(err, describe("key", k.ID))
		}
		h.fail(w, r, p, err)
		return
	}
	h.log.InfoContext(r.Context(), "admin: key created", "by_key", p.KeyID,
		"key", k.ID, "tenant", k.TenantID, "admin", k.Admin, "models", k.Models)
	h.audit(r, p, actionKeyCreate, k.ID, k.TenantID)
	if err := h.reload(r); err != nil {
		// The key is stored and its secret exists only in this response,
		// so it is answered anyway; the periodic reload will pick it up.
		h.log.ErrorContext(r.Context(), "admin: key created but keys not reloaded; it takes effect at the next reload",
			"key", k.ID, "err", err)
	}
	out := newKeyObject(k, now)
	out.Secret = secret
	api.WriteJSON(w, http.StatusCreated, out)
}

func (h *Handler) listKeys(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	tenantID := r.URL.Query().Get("tenant_id")
	if !operator(p) {
		if tenantID != "" && tenantID != p.TenantID {
			h.fail(w, r, p, notFound(describe("tenant", tenantID)))
			return
		}
		tenantID = p.TenantID
	}
	if tenantID != "" {
		if err := checkTenantID("tenant_id", tenantID); err != nil {
			h.fail(w, r, p, err)
			return
		}
		if _, err := h.store.Tenant(r.Context(), tenantID); err != nil {
			h.fail(w, r, p, storeError(err, describe("tenant", tenantID)))
			return
		}
	}
	keys, err := h.store.Keys(r.Context(), tenantID)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	now := h.now()
	out := make([]keyObject, len(keys))
	for i, k := range keys {
		out[i] = newKeyObject(k, now)
	}
	api.WriteJSON(w, http.StatusOK, newList(out))
}

// findKey returns the key with the given ID. The store has no lookup by
// ID; admin traffic is light enough to scan.
func (h *Handler) findKey(r *http.Request, id string) (tenant.Key, error) {
	keys, err := h.store.Keys(r.Context(), "")
	if err != nil {
		return tenant.Key{}, err
	}
	for _, k := range keys {
		if k.ID == id {
			return k, nil
		}
	}
	return tenant.Key{}, notFound(describe("key", id))
}

func (h *Handler) getKey(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	id := r.PathValue("id")
	if err := checkKeyID(id); err != nil {
		h.fail(w, r, p, err)
		return
	}
	k, err := h.visibleKey(r, p, id)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, newKeyObject(k, h.now()))
}

// visibleKey returns the key with the given ID if p administers its
// tenant; otherwise the key is not found.
func (h *Handler) visibleKey(r *http.Request, p tenant.Principal, id string) (tenant.Key, error) {
	k, err := h.findKey(r, id)
	if err != nil {
		return tenant.Key{}, err
	}
	if !canSee(p, k.TenantID) {
		return tenant.Key{}, notFound(describe("key", id))
	}
	return k, nil
}

func (h *Handler) revokeKey(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	id := r.PathValue("id")
	if err := checkKeyID(id); err != nil {
		h.fail(w, r, p, err)
		return
	}
	if !operator(p) {
		if _, err := h.visibleKey(r, p, id); err != nil {
			h.fail(w, r, p, err)
			return
		}
	}
	now := h.now().UTC()
	if err := h.store.RevokeKey(r.Context(), id, now); err != nil {
		h.fail(w, r, p, storeError(err, describe("key", id)))
		return
	}
	h.log.InfoContext(r.Context(), "admin: key revoked", "by_key", p.KeyID, "key", id, "self", id == p.KeyID)
	if k, err := h.findKey(r, id); err == nil {
		h.audit(r, p, actionKeyRevoke, id, k.TenantID)
	}
	if err := h.reload(r); err != nil {
		// A revocation must not be reported done while the key still
		// works here: the client retries (revoking is idempotent).
		h.log.ErrorContext(r.Context(), "admin: key revoked but keys not reloaded; it takes effect at the next reload",
			"key", id, "err", err)
		api.WriteError(w, api.Errorf(http.StatusServiceUnavailable, api.TypeServer, "reload_failed",
			"key %q is revoked in the store, but this server could not reload its keys; the revocation takes effect at the next reload, or retry", id))
		return
	}
	k, err := h.findKey(r, id)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, newKeyObject(k, now))
}
