package resilience

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// OutageOptions configure an Outage. The zero value is valid.
type OutageOptions struct {
	// Timeout bounds one probe (default 100ms).
	Timeout time.Duration
	// ProbeMin and ProbeMax bound the backoff between probes (default
	// 250ms and 5s).
	ProbeMin, ProbeMax time.Duration
	// OnChange, if set, is called when the outage begins (with the error
	// that began it) and when it ends (with nil), for logs and metrics. It
	// must not block.
	OnChange func(degraded bool, err error)
	// Recover, if set, runs after a probe answers and before the outage
	// ends, while Degraded still reports true: a caller hands back there
	// what it did locally meanwhile (a Fallback pushes what it admitted).
	// If it fails, the outage goes on and the next probe tries again. Its
	// context ends on Close; Recover bounds its own calls.
	Recover func(ctx context.Context) error
}

// Outage is the state of a shared backend (Redis, for limits and budgets)
// a replica can do without for a while: Begin marks it unreachable and
// probes it with exponential backoff until ping answers, when the outage
// ends. The limit and budget fallbacks serve locally meanwhile.
//
// An Outage is safe for concurrent use. Close stops its probe goroutine.
type Outage struct {
	ping     func(context.Context) error
	o        OutageOptions
	degraded atomic.Bool

	mu      sync.Mutex // guards closed, beginning and ending an outage
	closed  bool
	stop    chan struct{}
	stopped context.Context // ends on Close: the context of Recover
	cancel  context.CancelFunc
	probing sync.WaitGroup
}

// NewOutage returns the Outage of a backend that ping checks.
func NewOutage(ping func(context.Context) error, o OutageOptions) *Outage {
	if o.Timeout <= 0 {
		o.Timeout = 100 * time.Millisecond
	}
	if o.ProbeMin <= 0 {
		o.ProbeMin = 250 * time.Millisecond
	}
	if o.ProbeMax < o.ProbeMin {
		o.ProbeMax = max(5*time.Second, o.ProbeMin)
	}
	stopped, cancel := context.WithCancel(context.Background())
	return &Outage{ping: ping, o: o, stop: make(chan struct{}), stopped: stopped, cancel: cancel}
}

// Degraded reports whether an outage is under way.
func (u *Outage) Degraded() bool { return u.degraded.Load() }

// Begin starts an outage caused by err, unless one is under way or the
// Outage is closed: it calls prepare (nil: none) — still before Degraded
// reports true, so that a caller can swap in what it serves from meanwhile
// — then OnChange, and starts probing.
func (u *Outage) Begin(err error, prepare func()) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed || u.degraded.Load() {
		return
	}
	if prepare != nil {
		prepare()
	}
	u.degraded.Store(true)
	if u.o.OnChange != nil {
		u.o.OnChange(true, err)
	}
	u.probing.Add(1)
	go u.probe()
}

// probe waits with backoff until ping answers and Recover (if any)
// succeeds, then ends the outage. It stops on Close.
func (u *Outage) probe() {
	defer u.probing.Done()
	wait := u.o.ProbeMin
	for {
		t := time.NewTimer(wait)
		select {
		case <-u.stop:
			t.Stop()
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), u.o.Timeout)
		err := u.ping(ctx)
		cancel()
		if err == nil && u.o.Recover != nil {
			err = u.o.Recover(u.stopped)
		}
		if err == nil {
			u.mu.Lock()
			u.degraded.Store(false)
			if u.o.OnChange != nil {
				u.o.OnChange(false, nil)
			}
			u.mu.Unlock()
			return
		}
		wait = min(2*wait, u.o.ProbeMax)
	}
}

// Close stops probing and waits for the probe goroutine to end. Degraded
// keeps its last value.
func (u *Outage) Close() error {
	u.mu.Lock()
	if !u.closed {
		u.closed = true
		close(u.stop)
		u.cancel()
	}
	u.mu.Unlock()
	u.probing.Wait()
	return nil
}
