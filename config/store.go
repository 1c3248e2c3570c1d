package config

import (
	"math"
	"sort"
	"strings"
)

// Store types.
const (
	StoreSQLite   = "sqlite"
	StorePostgres = "postgres"
)

var storeTypes = []string{StoreSQLite, StorePostgres}

// Usage log modes: how far a request's usage record has gone when its
// answer completes.
const (
	// UsageLogWrite: written to the operating system, which keeps it if
	// the process is killed at any moment; on disk within a second. The
	// default.
	UsageLogWrite = "write"
	// UsageLogFsync: on the data directory's disk (an fsync, shared by
	// concurrent requests): it survives the machine losing power too, for
	// about 1 ms per request.
	UsageLogFsync = "fsync"
)

var usageLogModes = []string{UsageLogWrite, UsageLogFsync}

// Store selects where tenants, keys and the usage ledger live. The zero
// value is the embedded SQLite database in the data directory.
type Store struct {
	// Type is sqlite (default) or postgres.
	Type string `yaml:"type" json:"type,omitempty"`
	// URL is the Postgres connection string (postgres://user:pass@host/db;
	// put search_path=… in it to use a schema other than public). Write the
	// password as ${ENV_VAR}; the URL never appears in logs or errors.
	// Ignored for sqlite.
	URL string `yaml:"url" json:"-"`
	// UsageLog is where a request's usage record is when its answer
	// completes: write (default) or fsync. Every record goes to a local
	// log in the data directory first and is shipped to the store from
	// there, so that an answered request is billed whatever happens to
	// the process next.
	UsageLog string `yaml:"usage_log" json:"usage_log,omitempty"`
}

// Price is what one model costs, in US dollars per million tokens.
type Price struct {
	Input  float64 `yaml:"input" json:"input"`
	Output float64 `yaml:"output" json:"output"`
	// CachedInput is the price of prompt tokens served from the upstream's
	// prompt cache; zero means the Input price.
	CachedInput float64 `yaml:"cached_input" json:"cached_input,omitempty"`
	// CacheWrite is the price of prompt tokens written to the upstream's
	// prompt cache (Anthropic's cache writes); zero means the Input price.
	CacheWrite float64 `yaml:"cache_write" json:"cache_write,omitempty"`
}

// Limiter backends.
const (
	LimitsMemory = "memory"
	LimitsRedis  = "redis"
)

var limitBackends = []string{LimitsMemory, LimitsRedis}

// Limits selects the backend that enforces the per-key and per-tenant
// limits stored with tenants and keys. The zero value is the in-process
// memory limiter, exact for one replica.
type Limits struct {
	// Backend is memory (default) or redis (one limit shared by every
	// replica).
	Backend string `yaml:"backend" json:"backend,omitempty"`
	// RedisURL is the Redis server for the redis backend
	// (redis://[:password@]host:6379/0). It never appears in logs or
	// errors.
	RedisURL string `yaml:"redis_url" json:"-"`
	// Prefix starts every Redis key the limiter writes (default
	// "bulwark:limit:"), so that deployments can share a server.
	Prefix string `yaml:"prefix" json:"prefix,omitempty"`
	// FallbackShare is the share of each limit a replica enforces on its
	// own while Redis is unreachable, above 0 and at most 1 (default: one
	// third, right for three replicas). It is taken to the nearest
	// millionth and each local limit rounded up in integers: 0.34 of 600
	// requests a minute is 204.
	FallbackShare float64 `yaml:"fallback_share" json:"fallback_share,omitempty"`
	// Timeout bounds each call to Redis for a limit (default 100ms) or a
	// budget (default 1s); past it the replica enforces its local share.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
}

func (v *validator) store(c *Config) {
	s := c.Store
	v.oneOf("store.type", s.Type, storeTypes)
	v.oneOf("store.usage_log", s.UsageLog, usageLogModes)
	if s.Type == StorePostgres && s.URL == "" {
		v.add("store.url", "is required for store type postgres (write it as ${BULWARK_POSTGRES_URL})")
	}
	if strings.ContainsFunc(s.URL, isControl) {
		// The URL may hold a password: it is never repeated.
		v.add("store.url", "has a control character (a newline from a secret file?)")
	}

	models := make([]string, 0, len(c.Prices))
	for m := range c.Prices {
		models = append(models, m)
	}
	sort.Strings(models)
	for _, m := range models {
		p := c.Prices[m]
		path := childKey("prices", m)
		if strings.TrimSpace(m) == "" {
			v.add(path, "empty model name")
		}
		for _, f := range []struct {
			name string
			v    float64
		}{{"input", p.Input}, {"output", p.Output}, {"cached_input", p.CachedInput}, {"cache_write", p.CacheWrite}} {
			if math.IsNaN(f.v) || f.v < 0 || f.v > 1e6 {
				v.add(path+"."+f.name, "must be a price in dollars per million tokens between 0 and 1000000, got %v", f.v)
			}
		}
	}

	l := c.Limits
	v.oneOf("limits.backend", l.Backend, limitBackends)
	if l.Backend == LimitsRedis && l.RedisURL == "" {
		v.add("limits.redis_url", "is required for the redis backend (write it as ${BULWARK_REDIS_URL})")
	}
	if strings.ContainsFunc(l.RedisURL, isControl) {
		v.add("limits.redis_url", "has a control character (a newline from a secret file?)")
	}
	if l.FallbackShare < 0 || l.FallbackShare > 1 || math.IsNaN(l.FallbackShare) {
		v.add("limits.fallback_share", "must be above 0 and at most 1, got %v", l.FallbackShare)
	}
	v.duration("limits.timeout", l.Timeout)
}
