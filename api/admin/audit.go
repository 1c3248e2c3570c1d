package admin

import (
	"context"
	"net"
	"net/http"
	"strconv"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/tenant"
)

// Audited admin actions.
const (
	actionTenantCreate = "tenant.create"
	actionTenantLimits = "tenant.limits"
	actionKeyCreate    = "key.create"
	actionKeyRevoke    = "key.revoke"
	actionKeyLimits    = "key.limits"
)

// audit records an admin action that succeeded, if the store keeps an
// audit log. The action is done already: a failure to record it is
// logged, not answered.
func (h *Handler) audit(r *http.Request, p tenant.Principal, action, target, targetTenant string) {
	a, ok := h.store.(tenant.Auditor)
	if !ok {
		return
	}
	remote := r.RemoteAddr
	if host, _, err := net.SplitHostPort(remote); err == nil {
		remote = host
	}
	e := tenant.AuditEntry{
		ID: tenant.NewID("aud"), Time: h.now().UTC(), KeyID: p.KeyID, TenantID: p.TenantID,
		Action: action, Target: target, TargetTenant: targetTenant, Remote: remote,
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), reloadTimeout)
	defer cancel()
	if err := a.AppendAudit(ctx, e); err != nil {
		h.log.ErrorContext(r.Context(), "admin: recording an action in the audit log failed",
			"action", action, "target", target, "by_key", p.KeyID, "err", err)
	}
}

// listAudit answers GET /admin/v1/audit?tenant_id=&limit=: the newest
// admin actions, on one tenant if given. A tenant's admin key sees only
// the actions on its tenant.
func (h *Handler) listAudit(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	a, ok := h.store.(tenant.Auditor)
	if !ok {
		h.fail(w, r, p, notFound("audit log"))
		return
	}
	q := r.URL.Query()
	f := tenant.AuditFilter{TargetTenant: q.Get("tenant_id")}
	if f.TargetTenant != "" {
		if err := checkTenantID("tenant_id", f.TargetTenant); err != nil {
			h.fail(w, r, p, err)
			return
		}
	}
	if !operator(p) {
		if f.TargetTenant != "" && f.TargetTenant != p.TenantID {
			h.fail(w, r, p, notFound(describe("tenant", f.TargetTenant)))
			return
		}
		f.TargetTenant = p.TenantID
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			h.fail(w, r, p, api.BadRequest("limit", "limit must be a number from 1 to 1000"))
			return
		}
		f.Limit = n
	}
	entries, err := a.Audit(r.Context(), f)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, newList(entries))
}
