package redis_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/cache"
	"github.com/bulwark-ai/bulwark/cache/cachetest"
	"github.com/bulwark-ai/bulwark/redis"
)

func TestSemanticIndexConformance(t *testing.T) {
	cachetest.RunIndex(t, func(t *testing.T) cachetest.Index {
		c := newClient(t)
		return redis.NewSemanticIndex(c, redis.SemanticIndexOptions{Prefix: testPrefix(t, c), Timeout: time.Second, MaxPerBucket: 64})
	})
}

func TestSemanticIndexBucketsAreBoundedAndExpire(t *testing.T) {
	c := newClient(t)
	prefix := testPrefix(t, c)
	ix := redis.NewSemanticIndex(c, redis.SemanticIndexOptions{Prefix: prefix, Timeout: time.Second, MaxPerBucket: 3})
	ctx := context.Background()
	for i := range 5 {
		if err := ix.Add(ctx, "b", cache.Normalize([]float32{1, float32(i)}), fmt.Sprint("k", i), 90*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.LLen(ctx, prefix+"b").Result(); err != nil || n != 3 {
		t.Errorf("LLen = %d, %v; want 3", n, err)
	}
	if ttl, err := c.PTTL(ctx, prefix+"b").Result(); err != nil || ttl <= 80*time.Second || ttl > 90*time.Second {
		t.Errorf("PTTL = %v, %v; want about 90s", ttl, err)
	}
	// A replica that did not write them finds them: the index is shared.
	other := redis.NewSemanticIndex(newClient(t), redis.SemanticIndexOptions{Prefix: prefix, Timeout: time.Second, MaxPerBucket: 3})
	if m, ok, err := other.Search(ctx, "b", cache.Normalize([]float32{1, 4}), 0.999); err != nil || !ok || m.Key != "k4" {
		t.Errorf("Search from another client = %+v, %v, %v", m, ok, err)
	}
	if _, ok, _ := other.Search(ctx, "b", cache.Normalize([]float32{1, 0}), 0.9999); ok {
		t.Error("a vector trimmed from the bucket matched")
	}
}

func TestSemanticIndexFailsWithAnErrorWhenRedisIsDown(t *testing.T) {
	c, err := redis.NewClient("redis://127.0.0.1:1/0") // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ix := redis.NewSemanticIndex(c, redis.SemanticIndexOptions{Timeout: 200 * time.Millisecond})
	ctx := context.Background()
	if _, ok, err := ix.Search(ctx, "b", []float32{1}, 0.5); err == nil || ok {
		t.Errorf("Search = %v, %v; want an error", ok, err)
	}
	if err := ix.Add(ctx, "b", []float32{1}, "k", time.Minute); err == nil {
		t.Error("Add succeeded with Redis down")
	}
}
