package tenant

import "slices"

// Principal is who a request acts as: the tenant and key it authenticated
// with. It is passed explicitly along the request path, never through a
// context.
type Principal struct {
	TenantID string
	KeyID    string
	Admin    bool
	// Models lists the aliases the key may call; empty means all.
	Models []string
	// Priority is the priority class of the key's requests (critical,
	// interactive, batch); empty means interactive. A request may lower
	// its class below it but not raise it above (shed.Resolve).
	Priority string
	// KeyLimits and TenantLimits are the limits of the key and of its
	// tenant, as loaded with the key set; both apply to every request.
	KeyLimits    Limits
	TenantLimits Limits
}

// Allows reports whether the principal may call the model alias.
func (p Principal) Allows(model string) bool {
	return len(p.Models) == 0 || slices.Contains(p.Models, model)
}
