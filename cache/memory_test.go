package cache_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/cache"
	"github.com/bulwark-ai/bulwark/cache/cachetest"
)

func TestMemoryConformance(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) cachetest.Cache { return cache.NewMemory(4<<20, nil) })
}

func TestMemoryIsBoundedByBytesAndEvictsLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	val := make([]byte, 1000)
	m := cache.NewMemory(5*1200, nil) // room for 5 entries of ~1.1 KB
	for i := range 5 {
		_ = m.Set(ctx, fmt.Sprint("k", i), val, time.Hour)
	}
	if m.Len() != 5 {
		t.Fatalf("Len = %d, want 5", m.Len())
	}
	_, _, _ = m.Get(ctx, "k0") // k0 is now the most recently used; k1 the least
	_ = m.Set(ctx, "k5", val, time.Hour)
	if m.Bytes() > 5*1200 {
		t.Errorf("Bytes = %d, over the bound", m.Bytes())
	}
	if _, ok, _ := m.Get(ctx, "k1"); ok {
		t.Error("k1, the least recently used, was not evicted")
	}
	for _, k := range []string{"k0", "k2", "k3", "k4", "k5"} {
		if _, ok, _ := m.Get(ctx, k); !ok {
			t.Errorf("%s evicted", k)
		}
	}
	// A value larger than the whole bound is not stored, and drops the
	// key's older value.
	_ = m.Set(ctx, "k0", make([]byte, 10000), time.Hour)
	if _, ok, _ := m.Get(ctx, "k0"); ok {
		t.Error("an oversized value was stored")
	}
	if m.Len() != 4 {
		t.Errorf("Len = %d, want 4", m.Len())
	}
}

func TestMemoryExpiresEntries(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	m := cache.NewMemory(1<<20, func() time.Time { return now })
	_ = m.Set(ctx, "k", []byte("v"), time.Minute)
	now = now.Add(59 * time.Second)
	if _, ok, _ := m.Get(ctx, "k"); !ok {
		t.Fatal("expired early")
	}
	now = now.Add(time.Second)
	if _, ok, _ := m.Get(ctx, "k"); ok {
		t.Fatal("served after its TTL")
	}
	if m.Len() != 0 || m.Bytes() != 0 {
		t.Errorf("expired entry kept: %d entries, %d bytes", m.Len(), m.Bytes())
	}
}
