package redis_test

import (
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/limit"
	"github.com/bulwark-ai/bulwark/redis"
)

// proxy forwards TCP connections to the test Redis and can be taken down:
// it then drops every connection, as a network partition would.
type proxy struct {
	ln     net.Listener
	target string
	down   atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newProxy(t *testing.T) *proxy {
	u, err := url.Parse(testURL())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: u.Host, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.setDown(true)
		p.wg.Wait()
	})
	return p
}

// url is the test Redis URL, through the proxy.
func (p *proxy) url(t *testing.T) string {
	u, err := url.Parse(testURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.ln.Addr().String()
	return u.String()
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.down.Load() {
			p.mu.Unlock()
			c.Close()
			up.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}

func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down.Store(down)
	if !down {
		return
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// A Fallback over Redis serves locally while Redis is cut off and goes back
// to Redis when it answers again.
func TestFallbackRedisPartition(t *testing.T) {
	prefix := testPrefix(t, newClient(t))
	p := newProxy(t)
	c, err := redis.NewClient(p.url(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := limit.NewFallback(redis.NewLimiter(c, redis.LimiterOptions{Prefix: prefix}), limit.FallbackOptions{
		Share: 0.5,
		// Long enough for a first call (dial, script load) on a loaded
		// machine: a cut connection fails at once whatever the timeout.
		Timeout:  2 * time.Second,
		ProbeMin: 10 * time.Millisecond,
		ProbeMax: 40 * time.Millisecond,
	})
	defer f.Close()
	s := []limit.Scope{{Kind: limit.ScopeKey, ID: "k", Limits: limit.Limits{RequestsPerMinute: 10}}}
	reserve := func() limit.Decision {
		t.Helper()
		r, d, err := f.Reserve(t.Context(), s, 0)
		if err != nil {
			t.Fatalf("Reserve: %v", err)
		}
		if d.Allowed {
			if err := r.Commit(t.Context(), 0); err != nil {
				t.Fatalf("Commit: %v", err)
			}
		}
		return d
	}

	if d := reserve(); !d.Allowed || d.Requests.Remaining != 9 || f.Degraded() {
		t.Fatalf("healthy: %+v, degraded %v", d, f.Degraded())
	}

	p.setDown(true)
	if d := reserve(); !d.Allowed || d.Requests.Limit != 5 || !f.Degraded() {
		t.Fatalf("partitioned: %+v, degraded %v; want served locally with half the limit", d, f.Degraded())
	}

	p.setDown(false)
	deadline := time.Now().Add(5 * time.Second)
	for f.Degraded() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if f.Degraded() {
		t.Fatal("still degraded 5 s after Redis came back")
	}
	// Back on Redis, which remembers the first request.
	if d := reserve(); !d.Allowed || d.Requests.Limit != 10 || d.Requests.Remaining > 8 {
		t.Errorf("recovered: %+v; want Redis's count", d)
	}
}
