package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// CacheOptions configure a Cache. The zero value is valid.
type CacheOptions struct {
	// Prefix starts every key; "" means "bulwark:cache:".
	Prefix string
	// Timeout bounds each call; 0 means 100ms. The response cache fails
	// open: past it the gateway serves the request as a miss.
	Timeout time.Duration
}

// Cache is the scaled shape's response cache (package cache; the
// gateway's Cache): one string key per answer, <prefix><key>, written
// with SET … PX so that Redis expires it with its TTL. It is safe for
// concurrent use.
type Cache struct {
	c       goredis.UniversalClient
	prefix  string
	timeout time.Duration
}

// NewCache returns a Cache over c (made with NewClient).
func NewCache(c goredis.UniversalClient, o CacheOptions) *Cache {
	k := &Cache{c: c, prefix: o.Prefix, timeout: o.Timeout}
	if k.prefix == "" {
		k.prefix = "bulwark:cache:"
	}
	if k.timeout <= 0 {
		k.timeout = 100 * time.Millisecond
	}
	return k
}

// Get returns the value under key, if Redis holds one.
func (k *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	v, err := k.c.Get(ctx, k.prefix+key).Bytes()
	switch {
	case errors.Is(err, goredis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("redis cache get: %w", err)
	}
	return v, true, nil
}

// Set stores val under key for ttl (at least a millisecond).
func (k *Cache) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if ttl < time.Millisecond {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	if err := k.c.Set(ctx, k.prefix+key, val, ttl).Err(); err != nil {
		return fmt.Errorf("redis cache set: %w", err)
	}
	return nil
}
