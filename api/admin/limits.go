package admin

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/usage"
)

// maxLimit bounds a limit a client may set, so that a typo is caught.
const maxLimit = 1_000_000_000

// Bounds on a tenant's or key's attributes.
const (
	maxAliases  = maxModels
	maxTags     = 32
	maxTagValue = 256
)

// Audited changes of attributes.
const (
	actionTenantAttributes = "tenant.attributes"
	actionKeyAttributes    = "key.attributes"
)

// SetModels gives the Handler the routing table's view: known reports
// whether a model alias exists and serves a tenant in the table in force.
// With it, an alias mapping to anything else is refused (400); without
// it, any mapping is stored and an unusable one answers 404 at request
// time, as one does whose alias a reload removed. Call it before serving.
func (h *Handler) SetModels(known func(alias, tenantID string) bool) { h.models = known }

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

// checkAttributes rejects attributes a tenant tenantID (or one of its
// keys) may not have: a priority that is not a class, tags beyond their
// bounds, and aliases mapping to a model alias the routing table in force
// does not serve to the tenant.
func (h *Handler) checkAttributes(a tenant.Attributes, tenantID string) error {
	if a.Priority != "" && !slices.Contains(tenant.Priorities, a.Priority) {
		return api.BadRequest("priority", "priority must be %s, not %q", strings.Join(tenant.Priorities, ", "), a.Priority)
	}
	if len(a.Tags) > maxTags {
		return api.BadRequest("tags", "tags holds %d tags; at most %d are allowed", len(a.Tags), maxTags)
	}
	for _, k := range slices.Sorted(maps.Keys(a.Tags)) {
		if !usage.ValidTagKey(k) { // so that usage can be grouped by it
			return api.BadRequest("tags", "tag %q is invalid: use 1 to 64 letters, digits, '.', '_', ':', '/' or '-', starting with a letter or digit", k)
		}
		if err := checkText("tags."+k, a.Tags[k], maxTagValue); err != nil {
			return err
		}
	}
	if err := checkTools(a.Tools); err != nil {
		return err
	}
	if len(a.Aliases) > maxAliases {
		return api.BadRequest("aliases", "aliases maps %d names; at most %d are allowed", len(a.Aliases), maxAliases)
	}
	for _, name := range slices.Sorted(maps.Keys(a.Aliases)) {
		target := a.Aliases[name]
		if name == "" || target == "" {
			return api.BadRequest("aliases", "aliases maps %q to %q; neither may be empty", name, target)
		}
		if err := checkText("aliases", name, maxModelLen); err != nil {
			return err
		}
		if err := checkText("aliases."+name, target, maxModelLen); err != nil {
			return err
		}
		if h.models != nil && !h.models(target, tenantID) {
			return api.BadRequest("aliases."+name, "aliases maps %q to the model %q, which does not exist for tenant %q", name, target, tenantID)
		}
	}
	return nil
}

// checkTools rejects a tool allowlist with too many patterns, or one that
// is empty, too long or not a valid glob.
func checkTools(l []string) error {
	if len(l) > config.MaxToolPatterns {
		return api.BadRequest("tools", "tools lists %d patterns; at most %d are allowed", len(l), config.MaxToolPatterns)
	}
	for i, t := range l {
		if msg := config.CheckToolPattern(t); msg != "" {
			return api.BadRequest("tools", "tools[%d] %s", i, msg)
		}
		if slices.Contains(l[:i], t) {
			return api.BadRequest("tools", "tools lists %q twice", t)
		}
	}
	return nil
}

// checkPriority refuses a key a priority above its tenant's unless p is
// the operator's: only the operator decides which tenants may send
// critical traffic.
func checkPriority(p tenant.Principal, key, tenantPriority string) error {
	if key == "" || operator(p) || rank(key) >= rank(tenantPriority) {
		return nil
	}
	return operatorOnly(fmt.Sprintf("give a key a priority above its tenant's (%s)", cmp.Or(tenantPriority, "interactive")))
}

// rank orders priority classes, most important lowest; "" is interactive.
func rank(priority string) int {
	switch priority {
	case "critical":
		return 0
	case "batch":
		return 2
	}
	return 1
}

// patchRequest is the body of PATCH /admin/v1/tenants/{id} and
// PATCH /admin/v1/keys/{id}: what to change. Limits merge: each limit
// given replaces the stored one (0 clears it) and one left out is kept.
// The other fields given replace the stored ones whole (aliases {} and
// priority "" clear); a field left out is kept.
type patchRequest struct {
	Limits   *limitsPatch       `json:"limits"`
	Aliases  *map[string]string `json:"aliases"`
	Priority *string            `json:"priority"`
	Tags     *map[string]string `json:"tags"`
	Tools    *[]string          `json:"tools"`
}

// limitsPatch is the limits of a patchRequest: nil is a limit left out.
type limitsPatch struct {
	RequestsPerMinute *int `json:"requests_per_minute"`
	TokensPerMinute   *int `json:"tokens_per_minute"`
	Concurrent        *int `json:"concurrent"`
}

// apply returns cur with the limits l gives.
func (l *limitsPatch) apply(cur tenant.Limits) tenant.Limits {
	for _, f := range []struct {
		v   *int
		dst *int
	}{{l.RequestsPerMinute, &cur.RequestsPerMinute}, {l.TokensPerMinute, &cur.TokensPerMinute}, {l.Concurrent, &cur.Concurrent}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	return cur
}

// attributes reports whether the request changes attributes, and returns
// cur with the changes applied.
func (req patchRequest) attributes(cur tenant.Attributes) (tenant.Attributes, bool) {
	a := cur.Clone()
	if req.Aliases != nil {
		a.Aliases = *req.Aliases
	}
	if req.Priority != nil {
		a.Priority = *req.Priority
	}
	if req.Tags != nil {
		a.Tags = *req.Tags
	}
	if req.Tools != nil {
		a.Tools = *req.Tools
	}
	return a.Clone(), req.Aliases != nil || req.Priority != nil || req.Tags != nil || req.Tools != nil
}

func (h *Handler) decodePatch(w http.ResponseWriter, r *http.Request) (patchRequest, error) {
	var req patchRequest
	if err := decode(w, r, &req); err != nil {
		return req, err
	}
	if req.Limits == nil && req.Aliases == nil && req.Priority == nil && req.Tags == nil && req.Tools == nil {
		return req, api.BadRequest("limits", "nothing to change: give limits, aliases, priority, tags or tools")
	}
	if req.Limits != nil {
		return req, checkLimits(req.Limits.apply(tenant.Limits{}))
	}
	return req, nil
}

func (h *Handler) patchTenant(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	id := r.PathValue("id")
	if err := checkTenantID("id", id); err != nil {
		h.fail(w, r, p, err)
		return
	}
	if !operator(p) {
		h.fail(w, r, p, operatorOnly("change a tenant's limits or attributes"))
		return
	}
	req, err := h.decodePatch(w, r)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	t, err := h.store.Tenant(r.Context(), id)
	if err != nil {
		h.fail(w, r, p, storeError(err, describe("tenant", id)))
		return
	}
	attrs, changeAttrs := req.attributes(t.Attributes)
	if changeAttrs {
		if err := h.checkAttributes(attrs, id); err != nil {
			h.fail(w, r, p, err)
			return
		}
	}
	if req.Limits != nil {
		if err := h.store.SetTenantLimits(r.Context(), id, req.Limits.apply(t.Limits)); err != nil {
			h.fail(w, r, p, storeError(err, describe("tenant", id)))
			return
		}
		h.log.InfoContext(r.Context(), "admin: tenant limits changed", "by_key", p.KeyID, "tenant", id)
		h.audit(r, p, actionTenantLimits, id, id)
	}
	if changeAttrs {
		if err := h.store.SetTenantAttributes(r.Context(), id, attrs); err != nil {
			h.fail(w, r, p, storeError(err, describe("tenant", id)))
			return
		}
		h.log.InfoContext(r.Context(), "admin: tenant attributes changed", "by_key", p.KeyID, "tenant", id,
			"aliases", len(attrs.Aliases), "priority", attrs.Priority, "tags", len(attrs.Tags), "tools", len(attrs.Tools))
		h.audit(r, p, actionTenantAttributes, id, id)
	}
	if err := h.reload(r); err != nil {
		h.fail(w, r, p, err)
		return
	}
	t, err = h.store.Tenant(r.Context(), id)
	if err != nil {
		h.fail(w, r, p, storeError(err, describe("tenant", id)))
		return
	}
	api.WriteJSON(w, http.StatusOK, newTenantObject(t))
}

func (h *Handler) patchKey(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
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
	req, err := h.decodePatch(w, r)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	attrs, changeAttrs := req.attributes(k.Attributes)
	if changeAttrs {
		if err := h.checkKeyAttributes(r, p, attrs, k.TenantID); err != nil {
			h.fail(w, r, p, err)
			return
		}
	}
	if req.Limits != nil {
		if err := h.store.SetKeyLimits(r.Context(), id, req.Limits.apply(k.Limits)); err != nil {
			h.fail(w, r, p, storeError(err, describe("key", id)))
			return
		}
		h.log.InfoContext(r.Context(), "admin: key limits changed", "by_key", p.KeyID, "key", id)
		h.audit(r, p, actionKeyLimits, id, k.TenantID)
	}
	if changeAttrs {
		if err := h.store.SetKeyAttributes(r.Context(), id, attrs); err != nil {
			h.fail(w, r, p, storeError(err, describe("key", id)))
			return
		}
		h.log.InfoContext(r.Context(), "admin: key attributes changed", "by_key", p.KeyID, "key", id,
			"aliases", len(attrs.Aliases), "priority", attrs.Priority, "tags", len(attrs.Tags), "tools", len(attrs.Tools))
		h.audit(r, p, actionKeyAttributes, id, k.TenantID)
	}
	if err := h.reload(r); err != nil {
		h.fail(w, r, p, err)
		return
	}
	k, err = h.findKey(r, id)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, newKeyObject(k, h.now()))
}

// checkKeyAttributes checks the attributes of a key of tenantID that p
// gives it, at creation or in a change.
func (h *Handler) checkKeyAttributes(r *http.Request, p tenant.Principal, a tenant.Attributes, tenantID string) error {
	if err := h.checkAttributes(a, tenantID); err != nil {
		return err
	}
	if a.Priority == "" || operator(p) {
		return nil
	}
	t, err := h.store.Tenant(r.Context(), tenantID)
	if err != nil {
		return storeError(err, describe("tenant", tenantID))
	}
	return checkPriority(p, a.Priority, t.Priority)
}
