package tenant

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"
)

// Sentinel errors of a Store.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrUnavailable marks a failure to reach the store (refused or
	// dropped connections, no answer in time, a database locked past its
	// busy timeout), as opposed to a store that answered with an error.
	// Every store of Bulwark (tenants, keys, the usage ledger, the request
	// log, drift baselines) wraps such failures in it; it may pass once
	// the store is back.
	ErrUnavailable = errors.New("store unavailable")
)

// DefaultTenant is the tenant the bootstrap admin key belongs to.
const DefaultTenant = "default"

// Limits are the rate and concurrency limits of a tenant or a key. A zero
// field means no limit on that dimension.
type Limits struct {
	RequestsPerMinute int `json:"requests_per_minute,omitempty"`
	TokensPerMinute   int `json:"tokens_per_minute,omitempty"`
	// Concurrent is how many requests may be in flight at once.
	Concurrent int `json:"concurrent,omitempty"`
}

// IsZero reports whether l limits nothing.
func (l Limits) IsZero() bool { return l == Limits{} }

// Valid reports whether no limit is negative.
func (l Limits) Valid() bool {
	return l.RequestsPerMinute >= 0 && l.TokensPerMinute >= 0 && l.Concurrent >= 0
}

// Priority classes a tenant or key may be set to (package shed orders
// them); an empty Priority means interactive.
var Priorities = []string{"critical", "interactive", "batch"}

// Attributes are how a tenant's or key's requests are routed, admitted and
// labelled. A key's attributes apply over its tenant's: an alias or tag the
// key sets replaces the tenant's of the same name, and a key's priority,
// when set, replaces the tenant's.
type Attributes struct {
	// Aliases maps a model name the client sends to the configured model
	// alias that serves it, so that one tenant's "chat" can be routed
	// differently from another's. The key's allowed models still apply to
	// the name the client sent.
	Aliases map[string]string `json:"aliases"`
	// Priority is the admission class of the requests (one of
	// Priorities); empty leaves it to the tenant, then to interactive.
	Priority string `json:"priority,omitempty"`
	// Tags are free labels (team, cost centre, environment) shown by the
	// admin API and carried on the Principal.
	Tags map[string]string `json:"tags"`
	// Tools lists the tools (names or globs, path.Match) the requests may
	// declare and the model may call; empty allows every tool. Unlike the
	// other attributes it does not replace the tenant's: a key's and its
	// tenant's lists, and the alias's (config models[].tools.allow), all
	// apply, so a tool must be allowed by every one that is set.
	Tools []string `json:"tools"`
}

// Clone returns a with no map shared with a. Empty maps become nil.
func (a Attributes) Clone() Attributes {
	a.Aliases = cloneMap(a.Aliases)
	a.Tags = cloneMap(a.Tags)
	a.Tools = cloneList(a.Tools)
	return a
}

// Equal reports whether a and b hold the same attributes; a nil map equals
// an empty one.
func (a Attributes) Equal(b Attributes) bool {
	return a.Priority == b.Priority && maps.Equal(a.Aliases, b.Aliases) && maps.Equal(a.Tags, b.Tags) &&
		slices.Equal(a.Tools, b.Tools)
}

func cloneList(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return slices.Clone(l)
}

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// Tenant is one customer or application team.
type Tenant struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Limits Limits `json:"limits"`
	Attributes
	CreatedAt time.Time `json:"created_at"`
}

// Key is a virtual key. Hash is the hex SHA-256 of the secret; the secret
// itself is never stored.
type Key struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	Name     string `json:"name"`
	// Prefix is the first characters of the secret, to recognise a key in a
	// list without revealing it.
	Prefix string `json:"prefix"`
	Hash   string `json:"-"`
	// Admin keys may call the admin API.
	Admin bool `json:"admin"`
	// Models lists the aliases the key may call; empty means all.
	Models []string `json:"models"`
	// Limits apply to this key, on top of its tenant's.
	Limits Limits `json:"limits"`
	// Attributes apply over its tenant's (see Attributes).
	Attributes
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Store persists tenants and keys. Implementations are safe for concurrent
// use, return times in UTC, and store what they are given: a Tenant's or
// Key's CreatedAt is set by the caller.
type Store interface {
	// CreateTenant fails with ErrExists if the ID is taken.
	CreateTenant(ctx context.Context, t Tenant) error
	// Tenant fails with ErrNotFound if there is no such tenant.
	Tenant(ctx context.Context, id string) (Tenant, error)
	// Tenants lists every tenant, ordered by ID.
	Tenants(ctx context.Context) ([]Tenant, error)
	// CreateKey fails with ErrNotFound if the tenant does not exist and with
	// ErrExists if the ID or hash is taken.
	CreateKey(ctx context.Context, k Key) error
	// Keys lists the keys of a tenant, or of all tenants when tenantID is "".
	// Revoked keys are included. Keys are ordered by creation time, then
	// ID.
	Keys(ctx context.Context, tenantID string) ([]Key, error)
	// RevokeKey marks a key revoked at the given time; revoking a revoked key
	// is not an error and keeps the first revocation time. It fails with
	// ErrNotFound for an unknown key.
	RevokeKey(ctx context.Context, id string, at time.Time) error
	// SetTenantLimits replaces a tenant's limits; it fails with ErrNotFound
	// for an unknown tenant.
	SetTenantLimits(ctx context.Context, id string, l Limits) error
	// SetKeyLimits replaces a key's limits; it fails with ErrNotFound for
	// an unknown key.
	SetKeyLimits(ctx context.Context, id string, l Limits) error
	// SetTenantAttributes replaces a tenant's attributes whole; it fails
	// with ErrNotFound for an unknown tenant.
	SetTenantAttributes(ctx context.Context, id string, a Attributes) error
	// SetKeyAttributes replaces a key's attributes whole; it fails with
	// ErrNotFound for an unknown key.
	SetKeyAttributes(ctx context.Context, id string, a Attributes) error
}
