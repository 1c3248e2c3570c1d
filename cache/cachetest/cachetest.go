// Package cachetest is the conformance suite every backend of the response
// cache passes (cache.Memory, redis.Cache; Run), and every semantic index
// (cache.MemoryIndex, redis.SemanticIndex; RunIndex, index.go).
package cachetest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
)

// Cache is a backend under test; it is gateway.Cache.
type Cache interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
}

// Run runs the suite against the backends newCache returns, a fresh and
// empty one for each subtest, holding at least 1 MiB.
func Run(t *testing.T, newCache func(t *testing.T) Cache) {
	ctx := context.Background()
	t.Run("MissThenHit", func(t *testing.T) {
		c := newCache(t)
		if v, ok, err := c.Get(ctx, "k"); err != nil || ok || v != nil {
			t.Fatalf("Get of an unknown key = %q, %v, %v", v, ok, err)
		}
		if err := c.Set(ctx, "k", []byte("answer"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if v, ok, err := c.Get(ctx, "k"); err != nil || !ok || string(v) != "answer" {
			t.Fatalf("Get = %q, %v, %v", v, ok, err)
		}
	})
	t.Run("KeysAreApart", func(t *testing.T) {
		c := newCache(t)
		for i := range 10 {
			if err := c.Set(ctx, fmt.Sprint("k", i), []byte(fmt.Sprint("v", i)), time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 10 {
			if v, ok, err := c.Get(ctx, fmt.Sprint("k", i)); err != nil || !ok || string(v) != fmt.Sprint("v", i) {
				t.Errorf("k%d = %q, %v, %v", i, v, ok, err)
			}
		}
		if _, ok, _ := c.Get(ctx, "k10"); ok {
			t.Error("k10 was never set")
		}
	})
	t.Run("SetReplaces", func(t *testing.T) {
		c := newCache(t)
		_ = c.Set(ctx, "k", []byte("old"), time.Hour)
		if err := c.Set(ctx, "k", []byte("new"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if v, ok, _ := c.Get(ctx, "k"); !ok || string(v) != "new" {
			t.Errorf("Get = %q, %v", v, ok)
		}
	})
	t.Run("BinaryValues", func(t *testing.T) {
		c := newCache(t)
		val := bytes.Repeat([]byte{0, 0xff, '\n', 'x'}, 64<<10) // 256 KiB
		if err := c.Set(ctx, "k", val, time.Hour); err != nil {
			t.Fatal(err)
		}
		if v, ok, err := c.Get(ctx, "k"); err != nil || !ok || !bytes.Equal(v, val) {
			t.Errorf("Get: %d bytes, %v, %v", len(v), ok, err)
		}
	})
	t.Run("ConcurrentUse", func(t *testing.T) {
		c := newCache(t)
		done := make(chan struct{})
		for g := range 4 {
			go func() {
				defer func() { done <- struct{}{} }()
				for i := range 50 {
					k := fmt.Sprint("k", (g+i)%8)
					_ = c.Set(ctx, k, []byte(k), time.Hour)
					if v, ok, err := c.Get(ctx, k); err != nil || (ok && string(v) != k) {
						t.Errorf("Get %s = %q, %v, %v", k, v, ok, err)
					}
				}
			}()
		}
		for range 4 {
			<-done
		}
	})
}
