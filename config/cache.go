package config

import (
	"strings"
	"time"
)

// Cache backends.
const (
	CacheMemory = "memory"
	CacheRedis  = "redis"
)

var cacheBackends = []string{CacheMemory, CacheRedis}

// Defaults of the response cache.
const (
	DefaultCacheMaxBytes      = 64 << 20
	DefaultCacheMaxEntryBytes = 1 << 20
	DefaultCacheTTL           = Duration(time.Hour)
	DefaultCacheTimeout       = Duration(100 * time.Millisecond)
)

// Cache configures Bulwark's exact response cache: a chat answer is served
// again, without calling an upstream, to a request of the same tenant for
// the same alias whose body shapes the same answer (package cache). The
// zero value caches nothing unless an alias opts in (models[].cache).
//
// Only requests with deterministic settings (temperature 0, or a seed) are
// cached when Enabled, unless their alias says otherwise. The section is
// read at start; a reload keeps the backend it started with (an alias's
// own cache settings are reloaded).
type Cache struct {
	// Enabled caches the deterministic requests of every alias whose
	// cache.exact is unset.
	Enabled bool `yaml:"enabled" json:"enabled,omitempty"`
	// Backend is memory (default: an LRU in the process, bounded by
	// MaxBytes) or redis (one cache shared by every replica, entries
	// expiring with their TTL).
	Backend string `yaml:"backend" json:"backend,omitempty"`
	// RedisURL is the Redis server of the redis backend; empty means
	// limits.redis_url. It never appears in logs or errors.
	RedisURL string `yaml:"redis_url" json:"-"`
	// Prefix starts every Redis key the cache writes (default
	// "bulwark:cache:").
	Prefix string `yaml:"prefix" json:"prefix,omitempty"`
	// MaxBytes bounds the memory backend (default 64 MiB): the least
	// recently used answers are evicted past it.
	MaxBytes int64 `yaml:"max_bytes" json:"max_bytes,omitempty"`
	// MaxEntryBytes bounds one cached answer (default 1 MiB); a larger
	// answer is not cached.
	MaxEntryBytes int64 `yaml:"max_entry_bytes" json:"max_entry_bytes,omitempty"`
	// DefaultTTL is how long an answer is served from the cache when its
	// alias sets no cache.ttl (default 1h).
	DefaultTTL Duration `yaml:"default_ttl" json:"default_ttl,omitempty"`
	// Timeout bounds each call to Redis (default 100ms); past it, or on any
	// failure of the backend, the request is served as a miss.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Semantic configures the semantic cache of the aliases that use it
	// (models[].cache.semantic; semantic.go).
	Semantic SemanticCache `yaml:"semantic" json:"semantic,omitzero"`
}

// ModelCache is an alias's use of the response cache.
type ModelCache struct {
	// Exact unset follows cache.enabled: deterministic requests are
	// cached. true caches every request of the alias, deterministic or
	// not (the alias opts in: a repeated question gets the first answer);
	// false caches none.
	Exact *bool `yaml:"exact" json:"exact,omitempty"`
	// TTL is how long an answer of the alias is served from the cache;
	// zero means cache.default_ttl.
	TTL Duration `yaml:"ttl" json:"ttl,omitempty"`
	// Semantic also answers, after an exact miss, a question close enough
	// to an earlier one with the same context (semantic.go). It caches
	// every request of the alias, as exact: true does.
	Semantic bool `yaml:"semantic" json:"semantic,omitempty"`
	// Threshold is the least cosine similarity of a semantic hit; zero
	// means cache.semantic.threshold.
	Threshold float64 `yaml:"threshold" json:"threshold,omitempty"`
}

// Uses reports whether the alias caches a request: deterministic says
// whether the request's settings are, enabled is cache.enabled.
func (m ModelCache) Uses(enabled, deterministic bool) bool {
	if m.Exact != nil {
		return *m.Exact
	}
	return m.Semantic || enabled && deterministic
}

// CacheActive reports whether any request may be cached: the cache is enabled
// or an alias opts in.
func (c *Config) CacheActive() bool {
	if c.Cache.Enabled {
		return true
	}
	for _, m := range c.Models {
		if m.Cache.Exact != nil && *m.Cache.Exact || m.Cache.Semantic {
			return true
		}
	}
	return false
}

// Limits returns the cache's bounds and timings with the defaults for
// zero values.
func (c Cache) Limits() (maxBytes, maxEntryBytes int64, ttl, timeout time.Duration) {
	maxBytes, maxEntryBytes, ttl, timeout = c.MaxBytes, c.MaxEntryBytes, c.DefaultTTL.D(), c.Timeout.D()
	if maxBytes <= 0 {
		maxBytes = DefaultCacheMaxBytes
	}
	if maxEntryBytes <= 0 {
		maxEntryBytes = DefaultCacheMaxEntryBytes
	}
	if ttl <= 0 {
		ttl = DefaultCacheTTL.D()
	}
	if timeout <= 0 {
		timeout = DefaultCacheTimeout.D()
	}
	return maxBytes, maxEntryBytes, ttl, timeout
}

// CacheRedisURL returns the Redis URL of the redis backend: its own, else
// limits.redis_url.
func (c *Config) CacheRedisURL() string {
	if c.Cache.RedisURL != "" {
		return c.Cache.RedisURL
	}
	return c.Limits.RedisURL
}

func (v *validator) cache(c *Config) {
	k := c.Cache
	v.oneOf("cache.backend", k.Backend, cacheBackends)
	if k.Backend == CacheRedis && c.CacheRedisURL() == "" {
		v.add("cache.redis_url", "is required for the redis backend when limits.redis_url is not set (write it as ${BULWARK_REDIS_URL})")
	}
	if strings.ContainsFunc(k.RedisURL, isControl) {
		v.add("cache.redis_url", "has a control character (a newline from a secret file?)")
	}
	v.nonNegative("cache.max_bytes", k.MaxBytes)
	v.nonNegative("cache.max_entry_bytes", k.MaxEntryBytes)
	maxBytes, maxEntry, _, _ := k.Limits()
	if k.MaxEntryBytes > 0 && (k.Backend == "" || k.Backend == CacheMemory) && maxEntry > maxBytes {
		v.add("cache.max_entry_bytes", "max_entry_bytes %d is above max_bytes %d", maxEntry, maxBytes)
	}
	v.duration("cache.default_ttl", k.DefaultTTL)
	v.duration("cache.timeout", k.Timeout)
	for i, m := range c.Models {
		v.duration(childIndex("models", i)+".cache.ttl", m.Cache.TTL)
	}
	v.semanticCache(c)
}
