package redis_test

import (
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/redis"
)

// Ping checks that Redis takes writes: it leaves a short-lived probe key
// under the prefix, for the limiter and for budgets.
func TestPingWrites(t *testing.T) {
	c := newClient(t)
	prefix := testPrefix(t, c)
	for name, ping := range map[string]func() error{
		"limiter": func() error { return redis.NewLimiter(c, redis.LimiterOptions{Prefix: prefix}).Ping(t.Context()) },
		"budgets": func() error { return redis.NewBudgets(c, redis.BudgetsOptions{Prefix: prefix}).Ping(t.Context()) },
	} {
		c.Del(t.Context(), prefix+"probe")
		if err := ping(); err != nil {
			t.Fatalf("%s: Ping: %v", name, err)
		}
		ttl, err := c.PTTL(t.Context(), prefix+"probe").Result()
		if err != nil || ttl <= 0 || ttl > 10*time.Second {
			t.Errorf("%s: probe key TTL %v, %v; want a key that expires within 10s", name, ttl, err)
		}
	}
}
