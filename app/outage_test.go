package app

import (
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// proxy forwards TCP connections to a server until cut, which drops every
// connection and refuses new ones, as an outage of the server would;
// restore serves again on the same address.
type proxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() {
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			p.wg.Go(func() { _, _ = io.Copy(up, c); up.Close() })
			p.wg.Go(func() { _, _ = io.Copy(c, up); c.Close() })
		}
	})
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}

// Issue 7 item 6: with Postgres unreachable, a replica keeps
// authenticating from the key set it holds and serving, reports degraded,
// and buffers usage records until Postgres is back — nothing lost.
func TestPostgresOutageKeepsServingAndLosesNoUsage(t *testing.T) {
	pg, _ := scaledURLs(t)
	if !strings.HasPrefix(pg, "postgres://") && !strings.HasPrefix(pg, "postgresql://") {
		t.Skip("the outage test needs a postgres:// URL")
	}
	u, err := url.Parse(pgSchema(t, pg))
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, u.Host)
	u.Host = px.addr
	q := u.Query()
	q.Set("connect_timeout", "1")
	u.RawQuery = q.Encode()
	ts := start(t, fastConfig+`
store: {type: postgres, url: "`+u.String()+`"}
`)
	_, secret := createKey(t, ts, `{"id":"acme"}`, `{"tenant_id":"acme","name":"app"}`)
	auth := "Bearer " + secret
	if resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", auth); resp.StatusCode != 200 {
		t.Fatalf("chat: %d %s", resp.StatusCode, body)
	}

	px.cut()
	for i := range 3 {
		if resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", auth); resp.StatusCode != 200 {
			t.Fatalf("chat %d with Postgres down: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body := ts.do(t, "GET", "/readyz", "", "Authorization", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"status":"degraded"`) {
		t.Errorf("readyz with Postgres down: %d %s; want 200 and degraded", resp.StatusCode, body)
	}

	px.restore()
	waitUsage(t, ts, "tenant_id=acme", 4)
}
