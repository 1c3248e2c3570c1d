// Command conns measures what open client connections cost `bulwark
// serve`: it builds and starts the binary as a separate process, opens up
// to 10,000 connections to it — half holding an idle keep-alive after one
// answered request, half having sent part of a request's headers and then
// stalled — and reports the serve process's resident memory (VmRSS) at 0,
// 1,000 and 10,000 connections, then again once server.read_header_timeout
// has cut the stalled ones. It prints a Markdown table for BENCHMARKS.md.
//
//	go run ./bench/conns           # = make bench-conns, under a minute
//	go run ./bench/conns -h        # flags
//
// Each side holds one descriptor per connection, so the generator and the
// server, being separate processes, each stay under a 20,000 limit.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	var (
		bin     = flag.String("bin", "", "the bulwark binary (default: build ./cmd/bulwark)")
		steps   = flag.String("conns", "0,1000,10000", "connection counts at which memory is measured")
		header  = flag.Duration("read-header-timeout", 20*time.Second, "server.read_header_timeout of the server under test")
		settle  = flag.Duration("settle", 2*time.Second, "wait before each measurement")
		dialers = flag.Int("dialers", 64, "connections opened at once")
	)
	flag.Parse()
	if err := run(*bin, *steps, *header, *settle, *dialers); err != nil {
		fmt.Fprintln(os.Stderr, "conns:", err)
		os.Exit(1)
	}
}

func run(bin, steps string, header, settle time.Duration, dialers int) error {
	var counts []int
	for _, f := range strings.Split(steps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return fmt.Errorf("bad connection count %q", f)
		}
		counts = append(counts, n)
	}
	if err := raiseFileLimit(); err != nil {
		return fmt.Errorf("raise the file limit: %w", err)
	}
	dir, err := os.MkdirTemp("", "bulwark-conns-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "bulwark")
		build := exec.Command("go", "build", "-o", bin, "./cmd/bulwark")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	cfg := filepath.Join(dir, "bulwark.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("log: {level: warn}\nserver: {read_header_timeout: %s, shutdown_grace: 1s}\n", header)), 0o600); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "serve", "--config", cfg, "--listen", addr, "--data-dir", filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "BULWARK_ADMIN_KEY=bk-bench-conns-0123456789abcdefghijklmnop")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	if err := waitReady("http://" + addr + "/healthz"); err != nil {
		return err
	}
	pid := cmd.Process.Pid

	fmt.Printf("## Open connections and memory (`bench/conns`)\n\n")
	fmt.Printf("`bulwark serve` (built-in defaults, server.read_header_timeout %s) as its own process; "+
		"half the connections idle keep-alives after one answered GET /healthz, half stalled after part of a request's headers.\n\n", header)
	fmt.Println("| connections open | idle keep-alive | stalled mid-headers | serve VmRSS | per connection |")
	fmt.Println("|---|---|---|---|---|")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var base int64
	for _, n := range counts {
		if n > len(conns) {
			more, err := open(addr, n-len(conns), len(conns), dialers)
			conns = append(conns, more...)
			if err != nil {
				return fmt.Errorf("open connection %d: %w", len(conns)+1, err)
			}
		}
		time.Sleep(settle)
		r, err := rss(pid)
		if err != nil {
			return err
		}
		if n == 0 {
			base = r
		}
		per := "–"
		if n > 0 {
			per = fmt.Sprintf("%.1f KiB", float64(r-base)/1024/float64(n))
		}
		fmt.Printf("| %d | %d | %d | %.1f MiB | %s |\n", n, (n+1)/2, n/2, float64(r)/(1<<20), per)
	}

	// The stalled connections outlive read_header_timeout only if the
	// server lets them.
	time.Sleep(header + settle)
	closed := 0
	for i, c := range conns {
		if i%2 == 1 && isClosed(c) {
			closed++
		}
	}
	r, err := rss(pid)
	if err != nil {
		return err
	}
	fmt.Printf("| after %s | %d | %d of %d closed by the server | %.1f MiB | |\n", header+settle, (len(conns)+1)/2, closed, len(conns)/2, float64(r)/(1<<20))
	fmt.Println()
	return nil
}

// open opens n connections, numbered from first: even ones send a request
// and read its answer, then stay idle; odd ones send part of a request's
// headers and stall.
func open(addr string, n, first, dialers int) ([]net.Conn, error) {
	out := make([]net.Conn, n)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	sem := make(chan struct{}, dialers)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err == nil {
				if (first+i)%2 == 0 {
					err = keepAlive(c)
				} else {
					_, err = io.WriteString(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: bulwark\r\nContent-Type: application/json\r\n")
				}
			}
			if err != nil {
				select {
				case errs <- err:
				default:
				}
				if c != nil {
					c.Close()
				}
				return
			}
			out[i] = c
		})
	}
	wg.Wait()
	var kept []net.Conn
	for _, c := range out {
		if c != nil {
			kept = append(kept, c)
		}
	}
	select {
	case err := <-errs:
		return kept, err
	default:
	}
	return kept, nil
}

// keepAlive sends one request on c and reads its answer, leaving c idle.
func keepAlive(c net.Conn) error {
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: bulwark\r\n\r\n"); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.SetReadDeadline(time.Time{})
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /healthz: %s", resp.Status)
	}
	return err
}

// isClosed reports whether the server has closed c: a read gets EOF (or
// the answer the server sends before closing) rather than timing out.
func isClosed(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	var b [512]byte
	_, err := c.Read(b[:])
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func waitReady(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				http.DefaultClient.CloseIdleConnections()
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after 30s", url)
}

// raiseFileLimit raises the soft descriptor limit to the hard one; the
// server inherits it.
func raiseFileLimit() error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	l.Cur = l.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}

// rss returns the resident set size of pid (VmRSS) in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}
