package faults

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/bulwark-ai/bulwark/faultproxy"
)

const adminKey = "sk-bulwark-faults-admin-0123456789abcdef"

// bin is the bulwark binary TestMain builds.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bulwark-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "bulwark")
	build := exec.Command("go", "build", "-o", bin, "github.com/bulwark-ai/bulwark/cmd/bulwark")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build bulwark:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// statSources stats the module's sources once, from a test: go test
// caches a result by the files the test process read (from m.Run on),
// and the sources TestMain's build read are not among them, so without
// this a changed source would be answered from the cache.
var statSources = sync.OnceFunc(func() {
	_ = filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil
		case d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != "../..":
			return filepath.SkipDir
		case strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".lua") || strings.HasSuffix(path, ".sql") || d.Name() == "go.mod" || d.Name() == "go.sum":
			_, _ = os.Stat(path)
		}
		return nil
	})
})

// fastSim is a config fragment: a simulated provider that answers at
// once, with short streams.
const fastSim = `
log: {level: info}
providers:
  lab:
    type: sim
    models:
      quick-chat:
        ttft: {p50: 2ms}
        itl: {p50: 1ms}
        output_tokens: {min: 8, max: 8}
      slow-chat:
        ttft: {p50: 20ms}
        itl: {p50: 100ms}
        output_tokens: {min: 200, max: 200}
models:
  - name: chat
    targets: [{provider: lab, model: quick-chat}]
  - name: slow
    targets: [{provider: lab, model: slow-chat}]
    capacity: {initial_limit: 64} # 20 long streams at once, none queued
`

// proc is one `bulwark serve` child process.
type proc struct {
	t    *testing.T
	url  string
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan struct{}
	err  error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freePort returns a loopback address nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serve starts `bulwark serve` with cfg over dataDir and waits until it
// answers /healthz. The process is killed when the test ends, if it still
// runs.
func serve(t *testing.T, dataDir, cfg string) *proc {
	t.Helper()
	statSources()
	cfgPath := filepath.Join(dataDir, "..", filepath.Base(dataDir)+".yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	cmd := exec.Command(bin, "serve", "--config", cfgPath, "--data-dir", dataDir, "--listen", addr)
	cmd.Env = append(os.Environ(), "BULWARK_ADMIN_KEY="+adminKey)
	p := &proc{t: t, url: "http://" + addr, cmd: cmd, logs: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("bulwark serve exited at start: %v\n%s", p.err, p.logs)
		default:
		}
		if resp, err := http.Get(p.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("bulwark serve did not answer within 30s\n%s", p.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to end.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// term sends SIGTERM and waits, at most wait, for the process to exit.
func (p *proc) term(wait time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(wait):
		return fmt.Errorf("bulwark serve still running %v after SIGTERM", wait)
	}
}

// client has no overall timeout: tests bound requests with contexts.
var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// do sends a request with the admin key and returns the status and body.
func (p *proc) do(ctx context.Context, method, path, body string, hdr ...string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, p.url+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// chat sends one chat completion with request id id and reports whether
// it was answered in full: a 200 with a body, or a stream that ended with
// data: [DONE].
func (p *proc) chat(ctx context.Context, id string, stream bool) (bool, error) {
	body := `{"model":"chat","messages":[{"role":"user","content":"hello"}]}`
	if stream {
		body = `{"model":"chat","stream":true,"messages":[{"role":"user","content":"hello"}]}`
	}
	req, err := http.NewRequestWithContext(ctx, "POST", p.url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", id)
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		_, _ = io.Copy(io.Discard, resp.Body)
		return false, fmt.Errorf("status %d", resp.StatusCode)
	}
	if !stream {
		b, err := io.ReadAll(resp.Body)
		return err == nil && bytes.Contains(b, []byte(`"finish_reason"`)), err
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == "data: [DONE]" {
			return true, nil
		}
	}
	return false, sc.Err()
}

// sseEnd reads an event stream to its end and returns its last data line.
func sseEnd(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	last := ""
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			last = s
		}
	}
	return last, sc.Err()
}

// ---- the scaled shape's services ----

func requireCI(t *testing.T, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI: %v", what, err)
	}
	t.Skipf("%s unreachable: %v", what, err)
}

// postgresURL returns the test server's URL, skipping (failing in CI)
// when it is unreachable.
func postgresURL(t *testing.T) string {
	t.Helper()
	pg := os.Getenv("BULWARK_TEST_POSTGRES_URL")
	if pg == "" {
		pg = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg)
	if err != nil {
		requireCI(t, "postgres (BULWARK_TEST_POSTGRES_URL)", err)
	}
	_ = conn.Close(ctx)
	if !strings.HasPrefix(pg, "postgres://") && !strings.HasPrefix(pg, "postgresql://") {
		t.Skip("the fault suite needs a postgres:// URL")
	}
	return pg
}

// redisURL returns the test server's URL, skipping (failing in CI) when
// it is unreachable.
func redisURL(t *testing.T) string {
	t.Helper()
	rd := os.Getenv("BULWARK_TEST_REDIS_URL")
	if rd == "" {
		rd = "redis://127.0.0.1:6379/0"
	}
	o, err := goredis.ParseURL(rd)
	if err != nil {
		t.Fatalf("BULWARK_TEST_REDIS_URL: %v", err)
	}
	c := goredis.NewClient(o)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		requireCI(t, "redis (BULWARK_TEST_REDIS_URL)", err)
	}
	return rd
}

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// pgSchema creates a schema of the test's own, dropped when it ends, and
// returns pg with its search_path, and the schema's name.
func pgSchema(t *testing.T, pg string) (string, string) {
	t.Helper()
	schema := "bulwark_faults_" + randomHex()
	exec := func(ctx context.Context, sql string) {
		conn, err := pgx.Connect(ctx, pg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	exec(t.Context(), "CREATE SCHEMA "+schema)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(pg)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), schema
}

// viaProxy returns pg with its host replaced by addr and a short connect
// timeout, for a store behind a faultproxy.
func viaProxy(t *testing.T, pg, addr string) string {
	t.Helper()
	u, err := url.Parse(pg)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	q := u.Query()
	q.Set("connect_timeout", "1")
	u.RawQuery = q.Encode()
	return u.String()
}

// postgresBehindProxy creates a schema of the test's own and returns its
// direct URL, its URL through a faultproxy, and the proxy, closed when the
// test ends.
func postgresBehindProxy(t *testing.T) (direct, proxied string, px *faultproxy.Proxy) {
	t.Helper()
	direct, _ = pgSchema(t, postgresURL(t))
	px, err := faultproxy.Start(pgHost(t, direct))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	return direct, viaProxy(t, direct, px.Addr()), px
}

// redisBehindProxy returns the test Redis's options and a faultproxy in
// front of it, closed when the test ends.
func redisBehindProxy(t *testing.T) (*goredis.Options, *faultproxy.Proxy) {
	t.Helper()
	o, err := goredis.ParseURL(redisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	px, err := faultproxy.Start(o.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	return o, px
}

// pgHost is the host:port of a postgres:// URL.
func pgHost(t *testing.T, pg string) string {
	t.Helper()
	u, err := url.Parse(pg)
	if err != nil {
		t.Fatal(err)
	}
	if u.Port() == "" {
		return u.Hostname() + ":5432"
	}
	return u.Host
}
