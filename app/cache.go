package app

import (
	"context"
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
// the routes). When an alias uses the semantic cache
// (models[].cache.semantic), its index goes with the backend: an
// in-process MemoryIndex bounded by cache.semantic.max_bytes, or Redis
// lists under <prefix>sem: shared by every replica.
func (a *App) setCache(cfg *config.Config) error {
	if !cfg.CacheActive() {
		return nil
	}
	cc := cfg.Cache
	maxBytes, maxEntry, ttl, timeout := cc.Limits()
	sem := cc.Semantic.SemanticDefaults()
	var (
		c  gateway.Cache
		ix gateway.SemanticIndex
	)
	switch cc.Backend {
	case config.CacheRedis:
		client, err := redis.NewClient(cfg.CacheRedisURL())
		if err != nil {
			// The parse error may quote the URL, password included.
			return errors.New("cache.redis_url: invalid Redis URL")
		}
		a.closeCache = func() { _ = client.Close() }
		c = redis.NewCache(client, redis.CacheOptions{Prefix: cc.Prefix, Timeout: timeout})
		if cfg.SemanticActive() {
			prefix := cc.Prefix
			if prefix == "" {
				prefix = "bulwark:cache:"
			}
			ix = redis.NewSemanticIndex(client, redis.SemanticIndexOptions{Prefix: prefix + "sem:", Timeout: timeout,
				MaxPerBucket: sem.MaxPerBucket})
		}
	default:
		c = cache.NewMemory(maxBytes, nil)
		if cfg.SemanticActive() {
			ix = cache.NewMemoryIndex(sem.MaxBytes, sem.MaxPerBucket, nil)
		}
	}
	a.gw.SetCache(c, gateway.CacheOptions{Enabled: cc.Enabled, TTL: ttl, MaxEntryBytes: int(maxEntry)})
	if ix != nil {
		a.gw.SetSemanticCache(ix, gateway.SemanticOptions{EmbeddingModel: sem.EmbeddingModel, Threshold: sem.Threshold,
			Timeout: sem.Timeout.D()})
	}
	return nil
}

// Embed embeds inputs with the embedding alias model through the gateway,
// as tenantID, the way the semantic cache embeds its questions. It is for
// commands that run the app in process (bulwark cache calibrate).
func (a *App) Embed(ctx context.Context, tenantID, model string, inputs []string) ([][]float32, error) {
	return gatewayEmbedder{a.gw}.Embed(ctx, tenantID, model, "batch", inputs)
}
