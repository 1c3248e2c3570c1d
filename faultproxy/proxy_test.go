package faultproxy

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// echo serves a line echo on a loopback port until the test ends.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(c net.Conn, r *bufio.Reader, timeout time.Duration) (string, error) {
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return "", err
	}
	return r.ReadString('\n')
}

func TestForwardFreezeCutRestore(t *testing.T) {
	p, err := Start(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if got, err := roundTrip(c, r, 5*time.Second); err != nil || got != "ping\n" {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}

	p.Freeze()
	if got, err := roundTrip(c, r, 200*time.Millisecond); err == nil {
		t.Fatalf("frozen proxy answered %q", got)
	}
	// A new connection is accepted while frozen, and answers nothing.
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("a frozen dependency still accepts connections: %v", err)
	}
	defer c2.Close()
	r2 := bufio.NewReader(c2)
	if _, err := roundTrip(c2, r2, 200*time.Millisecond); err == nil {
		t.Fatal("a new connection to a frozen proxy answered")
	}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	// The held bytes flow once thawed: the earlier ping's echo arrives.
	_ = c2.SetDeadline(time.Now().Add(5 * time.Second))
	if got, err := r2.ReadString('\n'); err != nil || got != "ping\n" {
		t.Fatalf("after restore: %q, %v", got, err)
	}

	p.Cut()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadString('\n'); err == nil {
		// the first connection's frozen ping may come back before the cut
		if _, err := r.ReadString('\n'); err == nil {
			t.Fatal("a cut connection stayed open")
		}
	}
	if c3, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c3.Close()
		t.Fatal("a cut proxy accepted a connection")
	}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	c4, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	if got, err := roundTrip(c4, bufio.NewReader(c4), 5*time.Second); err != nil || got != "ping\n" {
		t.Fatalf("after restoring a cut: %q, %v", got, err)
	}
}
