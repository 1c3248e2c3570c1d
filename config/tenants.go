package config

import "regexp"

// tenantID is the form of a tenant ID, as the admin API accepts it.
var tenantID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// modelTenants checks an alias's tenants list: tenant IDs, each once. An
// empty list means every tenant. Tenants are stored in the database, not
// here, so an ID no tenant has yet is valid: the tenant may be created
// later.
func (v *validator) modelTenants(path string, ids []string) {
	seen := make(map[string]bool, len(ids))
	for i, id := range ids {
		p := childIndex(path, i)
		switch {
		case !tenantID.MatchString(id):
			v.add(p, "tenant ID %q must be 1 to 63 lowercase letters, digits, '_' or '-', starting with a letter or digit", id)
		case seen[id]:
			v.add(p, "tenant %q is listed twice", id)
		}
		seen[id] = true
	}
}
