// Package benchproc starts and stops the processes a benchmark under
// bench/ measures (bulwark serve, bulwark sim): with their output in a log
// file, killed with the benchmark, waited for until ready, on a free
// loopback port, with a raised file-descriptor limit they inherit.
package benchproc

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Child is a process the benchmark started and must stop.
type Child struct {
	Name string
	cmd  *exec.Cmd
	Log  *os.File
	done chan struct{}
}

// Start starts bin with args and env added to the benchmark's own
// environment, its stdout and stderr going to logPath. The child is killed
// if the benchmark dies first (Pdeathsig), and inherits the benchmark's
// raised file-descriptor limit.
func Start(name, bin, logPath string, env []string, args ...string) (*Child, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &Child{Name: name, cmd: cmd, Log: f, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// Stop asks the child to stop, and kills it if it has not within grace.
func (c *Child) Stop(grace time.Duration) {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	c.Log.Close()
}

// Exited reports whether the child has exited.
func (c *Child) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// WaitReady polls url until it answers 200, the child exits or 15 s pass.
func WaitReady(ctx context.Context, c *Child, url string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c.Exited() {
			return fmt.Errorf("%s exited; see %s", c.Name, c.Log.Name())
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready at %s after 15s; see %s", c.Name, url, c.Log.Name())
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// RaiseFileLimit raises the soft and hard RLIMIT_NOFILE to want (or as far
// as the process may). Calling Setrlimit also makes os/exec pass the new
// limit on to children instead of the one the process started with.
func RaiseFileLimit(want uint64) (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Max < want {
		n := l
		n.Max, n.Cur = want, want
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &n); err == nil {
			return want, nil
		}
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	return l.Cur, nil
}
