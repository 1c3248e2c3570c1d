package admin

import (
	"net/http"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/tenant"
)

// actionKeyRotate is the audit action of a rotation.
const actionKeyRotate = "key.rotate"

// rotateKey answers POST /admin/v1/keys/{id}/rotate: it creates a new key
// with the old one's tenant, name, admin flag, models, limits and expiry,
// then revokes the old one, and answers the new key with its secret
// (shown once). A revoked key cannot be rotated.
func (h *Handler) rotateKey(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	id := r.PathValue("id")
	if err := checkKeyID(id); err != nil {
		h.fail(w, r, p, err)
		return
	}
	old, err := h.visibleKey(r, p, id)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	if old.RevokedAt != nil {
		h.fail(w, r, p, api.Errorf(http.StatusConflict, api.TypeInvalidRequest, "key_revoked", "key %q is revoked; create a new key instead", id))
		return
	}
	secret, prefix, hash, err := tenant.NewSecret()
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	now := h.now().UTC()
	k := old
	k.ID, k.Prefix, k.Hash, k.CreatedAt, k.RevokedAt = tenant.NewID("key"), prefix, hash, now, nil
	if err := h.store.CreateKey(r.Context(), k); err != nil {
		h.fail(w, r, p, storeError(err, describe("key", k.ID)))
		return
	}
	if err := h.store.RevokeKey(r.Context(), old.ID, now); err != nil {
		// The new key exists and its secret is only in this response: answer
		// it, and say that the old key still works.
		h.log.ErrorContext(r.Context(), "admin: key rotated but the old key was not revoked", "key", old.ID, "err", err)
		err = api.Errorf(http.StatusServiceUnavailable, api.TypeServer, "revoke_failed",
			"a new key %s was created but key %s could not be revoked; revoke it", k.ID, old.ID)
		h.fail(w, r, p, err)
		return
	}
	h.log.InfoContext(r.Context(), "admin: key rotated", "by_key", p.KeyID, "key", old.ID, "new_key", k.ID, "tenant", k.TenantID)
	h.audit(r, p, actionKeyRotate, old.ID+" -> "+k.ID, k.TenantID)
	if err := h.reload(r); err != nil {
		h.log.WarnContext(r.Context(), "admin: key rotated; keys not reloaded yet", "err", err)
	}
	out := newKeyObject(k, now)
	out.Secret = secret
	api.WriteJSON(w, http.StatusCreated, out)
}
