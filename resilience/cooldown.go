package resilience

import (
	"sync"
	"sync/atomic"
	"time"
)

// Cooldown is how long a target has asked to be left alone: its upstream
// answered rate limited or overloaded with a Retry-After. Callers prefer
// other targets while it runs; whether they may still call the target is
// theirs to decide. Functions registered with Notify learn when a
// cooldown starts or is extended, so that requests waiting for the target
// can go elsewhere. The zero value is ready (no cooldown); a nil
// *Cooldown never cools down. It is safe for concurrent use.
type Cooldown struct {
	until atomic.Int64 // Unix nanoseconds; 0: never cooled down

	mu     sync.Mutex
	next   uint64
	notify map[uint64]func()
}

// Start cools the target down for d from now. A cooldown under way that
// ends later is kept (never shortened). It reports whether the cooldown's
// end moved: then every function registered with Notify is called once,
// in the caller's goroutine, and forgotten.
func (c *Cooldown) Start(d time.Duration) bool {
	if c == nil || d <= 0 {
		return false
	}
	until := time.Now().Add(d).UnixNano()
	for {
		cur := c.until.Load()
		if cur >= until {
			return false
		}
		if c.until.CompareAndSwap(cur, until) {
			break
		}
	}
	c.mu.Lock()
	fs := c.notify
	c.notify = nil
	c.mu.Unlock()
	for _, f := range fs {
		f()
	}
	return true
}

// Left returns what is left of the cooldown; zero when none runs.
func (c *Cooldown) Left() time.Duration {
	if c == nil {
		return 0
	}
	u := c.until.Load()
	if u == 0 {
		return 0
	}
	return max(time.Until(time.Unix(0, u)), 0)
}

// Active reports whether a cooldown runs.
func (c *Cooldown) Active() bool { return c.Left() > 0 }

// Notify registers f to be called once when the next cooldown starts or
// the one under way is extended (Start). f runs in Start's caller's
// goroutine, so it must be quick and must not block (cancelling a context
// is). stop unregisters f; f may still run once if Start already took it.
func (c *Cooldown) Notify(f func()) (stop func()) {
	if c == nil {
		return func() {}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.notify == nil {
		c.notify = map[uint64]func(){}
	}
	id := c.next
	c.next++
	c.notify[id] = f
	return func() {
		c.mu.Lock()
		delete(c.notify, id)
		c.mu.Unlock()
	}
}
