package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/cache/cachetest"
	"github.com/bulwark-ai/bulwark/redis"
)

func TestCacheConformance(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) cachetest.Cache {
		c := newClient(t)
		return redis.NewCache(c, redis.CacheOptions{Prefix: testPrefix(t, c), Timeout: time.Second})
	})
}

func TestCacheKeysExpireWithTheirTTL(t *testing.T) {
	c := newClient(t)
	prefix := testPrefix(t, c)
	k := redis.NewCache(c, redis.CacheOptions{Prefix: prefix, Timeout: time.Second})
	ctx := context.Background()
	if err := k.Set(ctx, "k", []byte("v"), 90*time.Second); err != nil {
		t.Fatal(err)
	}
	ttl, err := c.PTTL(ctx, prefix+"k").Result()
	if err != nil || ttl <= 80*time.Second || ttl > 90*time.Second {
		t.Errorf("PTTL = %v, %v; want about 90s", ttl, err)
	}
}

func TestCacheFailsWithAnErrorWhenRedisIsDown(t *testing.T) {
	c, err := redis.NewClient("redis://127.0.0.1:1/0") // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k := redis.NewCache(c, redis.CacheOptions{Timeout: 200 * time.Millisecond})
	ctx := context.Background()
	if _, ok, err := k.Get(ctx, "k"); err == nil || ok {
		t.Errorf("Get = %v, %v; want an error", ok, err)
	}
	if err := k.Set(ctx, "k", []byte("v"), time.Minute); err == nil {
		t.Error("Set gave no error")
	}
}
