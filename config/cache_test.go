package config

import (
	"strings"
	"testing"
	"time"
)

func TestCacheParsesAndValidates(t *testing.T) {
	good := `
disable_builtin_sim: true
providers:
  s: {type: sim, models: {m: {}}}
models:
  - name: faq
    targets: [{provider: s, model: m}]
    cache: {exact: true, ttl: 24h}
  - name: never
    targets: [{provider: s, model: m}]
    cache: {exact: false}
  - name: plain
    targets: [{provider: s, model: m}]
cache:
  enabled: true
  max_bytes: 1048576
  default_ttl: 10m
`
	c, err := Parse([]byte(good), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	faq, never, plain := c.Models[0].Cache, c.Models[1].Cache, c.Models[2].Cache
	if !faq.Uses(false, false) || faq.TTL.D() != 24*time.Hour {
		t.Errorf("faq %+v", faq)
	}
	if never.Uses(true, true) {
		t.Errorf("exact: false caches")
	}
	if !plain.Uses(true, true) || plain.Uses(true, false) || plain.Uses(false, true) {
		t.Errorf("unset exact does not follow cache.enabled for deterministic requests")
	}
	if !c.CacheActive() {
		t.Error("not active")
	}
	maxBytes, maxEntry, ttl, timeout := c.Cache.Limits()
	if maxBytes != 1<<20 || maxEntry != DefaultCacheMaxEntryBytes || ttl != 10*time.Minute || timeout != DefaultCacheTimeout.D() {
		t.Errorf("Limits = %d %d %s %s", maxBytes, maxEntry, ttl, timeout)
	}
	if Default().CacheActive() {
		t.Error("the default config caches")
	}
}

func TestCacheProblems(t *testing.T) {
	for yaml, want := range map[string]string{
		"cache: {backend: memcached}":                     `cache.backend (line 1): "memcached" is not one of memory, redis`,
		"cache: {backend: redis}":                         "cache.redis_url (line 1): is required",
		"cache: {max_bytes: -1}":                          "cache.max_bytes (line 1): must not be negative",
		"cache: {max_bytes: 1000, max_entry_bytes: 2000}": "cache.max_entry_bytes (line 1): max_entry_bytes 2000 is above max_bytes 1000",
		"cache: {enabled: yes please}":                    "cache.enabled",
		"cache: {exact: true}":                            "cache.exact",
		"models: [{name: x, targets: [{provider: sim, model: sim-chat}], cache: {exact: maybe}}]": "models[0].cache.exact",
		"models: [{name: x, targets: [{provider: sim, model: sim-chat}], cache: {ttl: 10}}]":      "models[0].cache.ttl",
	} {
		c, err := Parse([]byte(yaml), nil)
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v; want %q", yaml, err, want)
		}
	}
	// With limits on Redis, the cache may use it.
	c, err := Parse([]byte("limits: {backend: redis, redis_url: redis://127.0.0.1:6379/0}\ncache: {backend: redis}"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil || c.CacheRedisURL() != "redis://127.0.0.1:6379/0" {
		t.Errorf("redis cache on limits.redis_url: %v, %q", err, c.CacheRedisURL())
	}
}
