package redis_test

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bulwark-ai/bulwark/redis"
)

// testURL is the Redis the integration tests use.
func testURL() string {
	if u := os.Getenv("BULWARK_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// newClient returns a client of the test Redis, closed when the test ends.
// If Redis is unreachable the test is skipped, unless CI=true: in CI the
// integration tests must run.
func newClient(t testing.TB) *goredis.Client {
	t.Helper()
	if err := reachable(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at %s unreachable in CI: %v", testURL(), err)
		}
		t.Skipf("Redis at %s unreachable (set BULWARK_TEST_REDIS_URL): %v", testURL(), err)
	}
	c, err := redis.NewClient(testURL())
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// reachable pings the test Redis once per test binary.
var reachable = sync.OnceValue(func() error {
	c, err := redis.NewClient(testURL())
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
})

// testPrefix returns a key prefix no other test uses, whose keys are
// deleted when the test ends.
func testPrefix(t testing.TB, c *goredis.Client) string {
	t.Helper()
	name := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
	prefix := "bulwark-test:" + name + ":" + rand.Text()[:8] + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		for _, k := range scanKeys(t, c, prefix) {
			c.Del(ctx, k)
		}
	})
	return prefix
}

func scanKeys(t testing.TB, c *goredis.Client, prefix string) []string {
	t.Helper()
	var keys []string
	iter := c.Scan(context.Background(), 0, prefix+"*", 1000).Iterator()
	for iter.Next(context.Background()) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("scan %s*: %v", prefix, err)
	}
	return keys
}
