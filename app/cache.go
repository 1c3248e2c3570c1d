package app

import (
	"errors"

	"github.com/bulwark-ai/bulwark/cache"
	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/redis"
)

// setCache gives the gateway the response cache cfg selects (config
// cache): none when no request may be cached (cache.enabled off and no
// alias opting in), else the in-process LRU bounded by cache.max_bytes,
// or Redis, shared by every replica. The backend is chosen at start; a
// reload changes the aliases' own cache settings only (they travel with
// the routes).
func (a *App) setCache(cfg *config.Config) error {
	if !cfg.CacheActive() {
		return nil
	}
	cc := cfg.Cache
	maxBytes, maxEntry, ttl, timeout := cc.Limits()
	var c gateway.Cache
	switch cc.Backend {
	case config.CacheRedis:
		client, err := redis.NewClient(cfg.CacheRedisURL())
		if err != nil {
			// The parse error may quote the URL, password included.
			return errors.New("cache.redis_url: invalid Redis URL")
		}
		a.closeCache = func() { _ = client.Close() }
		c = redis.NewCache(client, redis.CacheOptions{Prefix: cc.Prefix, Timeout: timeout})
	default:
		c = cache.NewMemory(maxBytes, nil)
	}
	a.gw.SetCache(c, gateway.CacheOptions{Enabled: cc.Enabled, TTL: ttl, MaxEntryBytes: int(maxEntry)})
	return nil
}
