package cachetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/cache"
)

// Index is a semantic index under test; it is gateway.SemanticIndex.
type Index interface {
	Search(ctx context.Context, bucket string, vec []float32, threshold float32) (cache.Match, bool, error)
	Add(ctx context.Context, bucket string, vec []float32, key string, ttl time.Duration) error
}

// unit returns (x, y, 0, 0) at unit length.
func unit(x, y float32) []float32 { return cache.Normalize([]float32{x, y, 0, 0}) }

// RunIndex runs the suite against the indexes newIndex returns, a fresh
// and empty one for each subtest, keeping at least 16 vectors a bucket.
func RunIndex(t *testing.T, newIndex func(t *testing.T) Index) {
	ctx := context.Background()
	t.Run("EmptyThenNearest", func(t *testing.T) {
		ix := newIndex(t)
		if m, ok, err := ix.Search(ctx, "b", unit(1, 0), 0.5); err != nil || ok {
			t.Fatalf("Search of an empty bucket = %+v, %v, %v", m, ok, err)
		}
		for i, v := range [][]float32{unit(1, 1), unit(1, 0.1), unit(0, 1)} {
			if err := ix.Add(ctx, "b", v, fmt.Sprint("k", i), time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		m, ok, err := ix.Search(ctx, "b", unit(1, 0), 0.9)
		if err != nil || !ok || m.Key != "k1" || m.Score < 0.99 || m.Score > 1.0001 {
			t.Fatalf("Search = %+v, %v, %v; want k1 at about 0.995", m, ok, err)
		}
	})
	t.Run("ThresholdIsInclusiveAndBinding", func(t *testing.T) {
		ix := newIndex(t)
		_ = ix.Add(ctx, "b", unit(1, 1), "k", time.Hour) // cosine 0.7071 to (1, 0)
		if _, ok, _ := ix.Search(ctx, "b", unit(1, 0), 0.71); ok {
			t.Error("a vector below the threshold matched")
		}
		if m, ok, _ := ix.Search(ctx, "b", unit(1, 0), 0.70); !ok || m.Key != "k" {
			t.Errorf("a vector above the threshold did not match: %+v", m)
		}
	})
	t.Run("BucketsAreApart", func(t *testing.T) {
		ix := newIndex(t)
		_ = ix.Add(ctx, "tenant-a", unit(1, 0), "ka", time.Hour)
		if _, ok, _ := ix.Search(ctx, "tenant-b", unit(1, 0), 0.5); ok {
			t.Error("another bucket's vector matched")
		}
	})
	t.Run("OtherDimensionsAreSkipped", func(t *testing.T) {
		ix := newIndex(t)
		_ = ix.Add(ctx, "b", cache.Normalize([]float32{1, 0, 0}), "k3", time.Hour)
		if _, ok, _ := ix.Search(ctx, "b", unit(1, 0), 0.5); ok {
			t.Error("a vector of 3 dimensions matched one of 4")
		}
	})
	t.Run("ExpiredVectorsDoNotMatch", func(t *testing.T) {
		ix := newIndex(t)
		_ = ix.Add(ctx, "b", unit(1, 0), "old", 5*time.Millisecond)
		_ = ix.Add(ctx, "b", unit(0, 1), "new", time.Hour)
		time.Sleep(20 * time.Millisecond) // the backends' clocks are real
		if m, ok, _ := ix.Search(ctx, "b", unit(1, 0), 0.5); ok {
			t.Errorf("an expired vector matched: %+v", m)
		}
		if _, ok, _ := ix.Search(ctx, "b", unit(0, 1), 0.5); !ok {
			t.Error("a live vector was dropped with the expired one")
		}
	})
	t.Run("ConcurrentUse", func(t *testing.T) {
		ix := newIndex(t)
		done := make(chan struct{})
		for g := range 4 {
			go func() {
				defer func() { done <- struct{}{} }()
				for i := range 30 {
					v := unit(float32(g+1), float32(i))
					_ = ix.Add(ctx, fmt.Sprint("b", g%2), v, fmt.Sprint("k", g, i), time.Hour)
					if _, _, err := ix.Search(ctx, fmt.Sprint("b", g%2), v, 0.999); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		for range 4 {
			<-done
		}
	})
}
