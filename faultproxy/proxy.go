// Package faultproxy is a TCP proxy that tests put between Bulwark and a
// dependency (Postgres, Redis, an upstream) to make the dependency fail the
// way it fails in production: Cut drops every connection and refuses new
// ones (a crashed server, a closed port), Freeze keeps connections open but
// moves no byte either way (a server stopped with SIGSTOP, a partition that
// drops packets), and Restore serves again on the same address.
//
// It is imported by tests only. It is written here rather than taken from a
// library because the one operation that matters, freezing established
// connections without closing them, is a few lines over net.Conn.
package faultproxy

import (
	"net"
	"sync"
	"time"
)

// Proxy forwards TCP connections from Addr to a target. It is safe for
// concurrent use.
type Proxy struct {
	target string
	addr   string

	mu     sync.Mutex
	ln     net.Listener // nil while cut
	conns  map[net.Conn]struct{}
	frozen chan struct{} // closed when not frozen; open while frozen
	closed bool
	wg     sync.WaitGroup
}

// Start listens on a loopback port and forwards every connection to target.
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	thawed := make(chan struct{})
	close(thawed)
	p := &Proxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}, frozen: thawed}
	p.serve(ln)
	return p, nil
}

// Addr is the proxy's address (host:port); it stays the same across Cut
// and Restore.
func (p *Proxy) Addr() string { return p.addr }

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.forward(c) })
		}
	})
}

func (p *Proxy) forward(c net.Conn) {
	// A frozen dependency still accepts connections (the kernel does),
	// then answers nothing: wait before dialling.
	p.waitThawed()
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	if !p.track(c, up) {
		_ = c.Close()
		_ = up.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.copy(up, c) })
	wg.Go(func() { p.copy(c, up) })
	wg.Wait()
	p.untrack(c, up)
}

// copy moves bytes from src to dst, holding each read back while the
// proxy is frozen, and closes both when either side ends.
func (p *Proxy) copy(dst, src net.Conn) {
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.waitThawed()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // io.EOF or a closed connection: either way, done
		}
	}
}

func (p *Proxy) waitThawed() {
	p.mu.Lock()
	ch := p.frozen
	p.mu.Unlock()
	<-ch
}

func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil || p.closed {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
	}
}

// Cut closes every connection and refuses new ones until Restore. It also
// ends a freeze, so that the connections held by it are closed.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
	p.thawLocked()
}

// Freeze stops every byte in both directions, on open connections and new
// ones, until Restore; nothing is closed.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.frozen:
		p.frozen = make(chan struct{})
	default: // already frozen
	}
}

func (p *Proxy) thawLocked() {
	select {
	case <-p.frozen:
	default:
		close(p.frozen)
	}
}

// Restore ends a freeze or a cut: held bytes flow again and, after a cut,
// the proxy accepts on its address again.
func (p *Proxy) Restore() error {
	p.mu.Lock()
	p.thawLocked()
	listening := p.ln != nil || p.closed
	p.mu.Unlock()
	if listening {
		return nil
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return err
	}
	p.serve(ln)
	return nil
}

// Close cuts the proxy for good and waits for its goroutines.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.Cut()
	p.wg.Wait()
}
