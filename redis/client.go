package redis

import (
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// NewClient returns a client for the Redis at url
// (redis://[user:password@]host:port/db, or rediss:// for TLS) set up for
// the hot path: the caller's context deadline bounds every call, dialing
// and socket timeouts are short, and a failed call is retried once, which
// the scripts make safe. It does not connect; the first call does.
func NewClient(url string) (*goredis.Client, error) {
	o, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis: parse url: %w", err)
	}
	o.ContextTimeoutEnabled = true
	if o.DialTimeout == 0 {
		o.DialTimeout = time.Second
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = time.Second
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 1
	}
	return goredis.NewClient(o), nil
}
