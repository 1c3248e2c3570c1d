package app

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/bulwark-ai/bulwark/gateway"
)

// stopTimeout is how long Serve waits, once the shutdown grace is over,
// for the requests it then cancels to end: a stream writes its
// server_shutting_down error event, every request settles its quota and
// adds its usage record. Past it the connections are closed, which ends
// any write still blocked, and Serve waits as long again for the handlers
// to return. Serve therefore returns at most shutdown_grace + 2 ×
// stopTimeout after it was asked to stop.
const stopTimeout = 5 * time.Second

// handlers counts the HTTP handlers running, so that Serve returns only
// once each has returned (and so added its usage record): http.Server's
// Close does not wait for them. The zero value is ready; it is safe for
// concurrent use.
type handlers struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n falls to 0; made when n leaves 0
}

// wrap counts h's calls while they run.
func (c *handlers) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		if c.n == 0 {
			c.idle = make(chan struct{})
		}
		c.n++
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			if c.n--; c.n == 0 {
				close(c.idle)
			}
			c.mu.Unlock()
		}()
		h.ServeHTTP(w, r)
	})
}

// running returns how many handlers run.
func (c *handlers) running() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// wait waits until no handler runs, or ctx ends (then it returns ctx's
// error).
func (c *handlers) wait(ctx context.Context) error {
	c.mu.Lock()
	if c.n == 0 {
		c.mu.Unlock()
		return nil
	}
	idle := c.idle
	c.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drain stops srv, which serves through a.active and whose requests'
// contexts cancelRequests cancels: it stops accepting and waits for the
// requests in flight up to grace. Past it, the requests still in flight
// are canceled with gateway.ErrShuttingDown as the cause, so that a stream
// ends with an error event saying so rather than a bare EOF and the
// request is recorded as cut by the shutdown; drain waits for them to
// end (stopTimeout) before it closes the connections, and returns only
// once every handler returned (another stopTimeout at most), so that
// every usage record is added before the app closes its usage writer.
func (a *App) drain(srv *http.Server, grace time.Duration, cancelRequests context.CancelCauseFunc) error {
	shutCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(shutCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		a.log.Warn("grace period over; ending the requests still in flight", "requests", a.active.running())
		cancelRequests(gateway.ErrShuttingDown)
		stopCtx, cancelStop := context.WithTimeout(context.Background(), stopTimeout)
		defer cancelStop()
		// Once the handlers returned, Shutdown lets their responses
		// finish (an HTTP/1.1 chunked body's last chunk) and closes the
		// connections.
		if err = a.active.wait(stopCtx); err == nil {
			err = srv.Shutdown(stopCtx)
		}
		if err != nil {
			a.log.Warn("requests still running after the shutdown grace; closing their connections", "requests", a.active.running())
			err = srv.Close()
		}
	}
	// A closed connection fails its handler's writes; the handler still
	// settles its request before it returns.
	waitCtx, cancelWait := context.WithTimeout(context.Background(), stopTimeout)
	defer cancelWait()
	if a.active.wait(waitCtx) != nil {
		a.log.Error("requests still running after their connections closed; their usage records may be lost",
			"requests", a.active.running())
	}
	return err
}
