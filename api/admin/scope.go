package admin

import (
	"net/http"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/tenant"
)

// Who administers what: an admin key of the default tenant (the operator's)
// administers every tenant. An admin key of another tenant administers its
// own tenant only: it sees and manages that tenant's keys and usage, and
// cannot create tenants or change a tenant's limits or attributes. It may
// set its keys' aliases (to models that serve its tenant) and tags, and a
// priority no higher than its tenant's (limits.go). What it may not see
// answers 404, as if it did not exist.

// operator reports whether p administers every tenant.
func operator(p tenant.Principal) bool { return p.TenantID == tenant.DefaultTenant }

// canSee reports whether p administers the tenant tenantID.
func canSee(p tenant.Principal, tenantID string) bool {
	return operator(p) || tenantID == p.TenantID
}

// operatorOnly is the refusal of an operator action to a tenant's admin key.
func operatorOnly(what string) error {
	return api.Errorf(http.StatusForbidden, api.TypePermission, "operator_required",
		"only an admin key of the %q tenant may %s", tenant.DefaultTenant, what)
}
