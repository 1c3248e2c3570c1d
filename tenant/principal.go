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
}

// Allows reports whether the principal may call the model alias.
func (p Principal) Allows(model string) bool {
	return len(p.Models) == 0 || slices.Contains(p.Models, model)
}
