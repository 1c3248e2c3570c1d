package readme

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/bulwark-ai/bulwark/postgres"
)

// block is one fenced code block of README.md.
type block struct {
	line int    // of the opening fence
	lang string // sh, yaml, python…
	tag  string // the info string after the language: a marker (see doc.go)
	body string
}

func (b block) String() string { return fmt.Sprintf("README.md:%d (%s %s)", b.line, b.lang, b.tag) }

// parse returns README's fenced blocks in order.
func parse(t *testing.T, text string) []block {
	t.Helper()
	var (
		out  []block
		cur  *block
		body strings.Builder
	)
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if !strings.HasPrefix(line, "```") {
			if cur != nil {
				body.WriteString(line + "\n")
			}
			continue
		}
		if cur != nil {
			cur.body = body.String()
			out = append(out, *cur)
			cur = nil
			continue
		}
		info := strings.TrimSpace(strings.TrimPrefix(line, "```"))
		lang, tag, _ := strings.Cut(info, " ")
		if lang == "" {
			t.Errorf("README.md:%d: a code block without a language: name it (sh, yaml, python…) so it is run or checked", n)
		}
		cur = &block{line: n, lang: lang, tag: strings.TrimSpace(tag)}
		body.Reset()
	}
	if cur != nil {
		t.Fatalf("README.md:%d: the block is not closed", cur.line)
	}
	return out
}

// servesLine matches a line that starts a server: it is run in the
// background and waited for.
var servesLine = regexp.MustCompile(`^(go run \./cmd/bulwark|bulwark) serve\b`)

// errorJSON is an OpenAI error object in a command's output: a block
// whose curl got one failed, whatever curl's exit code.
var errorJSON = regexp.MustCompile(`"error"\s*:\s*\{`)

// expect names what a block's output must contain, by a line of the block.
var expect = map[string][]string{
	`-d '{"model":"sim-chat","messages":[{"role":"user","content":"Hello"}]}'`:          {`"object":"chat.completion"`},
	`kb search --store handbook "how do I run the tests?"`:                              {"README.md"},
	`bulwark batches submit requests.jsonl --wait --out results.jsonl`:                  {"completed: 1 completed, 0 failed of 1", `"custom_id":"q1"`},
	`-d '{"prompt":{"id":"summary","variables":{"text":"Bulwark keeps AI apps up."}}}'`: {`"object":"chat.completion"`},
	`bulwark keys list --tenant globex`:                                                 {"support-bot", "60 rpm, 4 concurrent"},
	`go run ./cmd/bulwark backup verify bulwark-backup.tar.gz`:                          {"bulwark-backup.tar.gz"},
}

// TestREADME runs README.md as a new user would: every sh block in
// order, in one working directory that has the repository's files and a
// fresh data directory, with `bulwark` on PATH as `go install
// ./cmd/bulwark` leaves it; variables a block sets reach the blocks after
// it, as in one terminal. A line that starts `bulwark serve` runs in the
// background until the test ends. Every yaml block must pass `bulwark
// config check`, and every python block must compile. See doc.go for the
// markers a block's fence can carry.
func TestREADME(t *testing.T) {
	if testing.Short() {
		t.Skip("runs README.md end to end")
	}
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to run README.md: %v", tool, err)
		}
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := parse(t, string(text))
	// An expectation whose line no sh block has would never be checked.
	for line := range expect {
		found := false
		for _, b := range blocks {
			found = found || b.lang == "sh" && strings.Contains(b.body, line)
		}
		if !found {
			t.Errorf("no sh block of README.md has %q: its expected output is never checked", line)
		}
	}
	for _, port := range []string{"127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:8090"} {
		if l, err := net.Listen("tcp", port); err != nil {
			need(t, "README.md's servers listen on "+port+", which is taken: %v", err)
		} else {
			l.Close()
		}
	}

	r := &runner{t: t, dir: workDir(t, root), state: filepath.Join(t.TempDir(), "state.sh")}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "bulwark"), "./cmd/bulwark")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	r.env, r.bin = environ(bin), filepath.Join(bin, "bulwark")
	t.Cleanup(r.stopServers)

	ran := 0
	for _, b := range blocks {
		switch b.lang {
		case "sh":
			if r.sh(b) {
				ran++
			}
		case "yaml":
			r.yaml(b)
		case "python":
			r.python(b)
		}
		if t.Failed() {
			return // later blocks build on this one
		}
	}
	if ran < 10 {
		t.Errorf("ran %d shell blocks of README.md; it has more: is the parser right?", ran)
	}
}

// need fails the test in CI and skips it elsewhere.
func need(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// workDir is a fresh directory holding the repository's tracked files (as
// links) and nothing else: no data directory, no output of an earlier run.
func workDir(t *testing.T, root string) string {
	dir := t.TempDir()
	out, err := exec.Command("git", "-C", root, "ls-files").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	seen := map[string]bool{}
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		top, _, _ := strings.Cut(f, "/")
		if top == "" || seen[top] {
			continue
		}
		seen[top] = true
		if _, err := os.Stat(filepath.Join(root, top)); err != nil {
			continue // deleted in the work tree
		}
		if err := os.Symlink(filepath.Join(root, top), filepath.Join(dir, top)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// environ is the test's environment without Bulwark's own variables (a
// new user has none), with bin first on PATH.
func environ(bin string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "BULWARK_") || strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "OPENAI_API_KEY=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
}

type runner struct {
	t       *testing.T
	dir     string   // the working directory
	bin     string   // bulwark, as go install leaves it
	env     []string // every block's
	state   string   // the variables the blocks set, as `declare -p` left them
	vars    []string // their names
	servers []*exec.Cmd
	s3      *httptest.Server
}

// assignment is a line that sets a variable (NAME=…); assigns finds the
// variables it sets, or an export line does (export A=… B=…).
var (
	assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
	assigns    = regexp.MustCompile(`(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=`)
	listenFlag = regexp.MustCompile(`--listen (\S+)`)
)

// sh runs a shell block, or checks it when its marker says it cannot run
// here; it reports whether the block ran.
func (r *runner) sh(b block) bool {
	t := r.t
	t.Logf("%s", b)
	marker, reason, _ := strings.Cut(b.tag, ":")
	body := b.body
	switch marker {
	case "norun":
		// Shown, not run: it needs what a test cannot have (reason).
		r.bash(b, "set -n\n"+body, "")
		t.Logf("  not run:%s", reason)
		return false
	case "check-only":
		// Its servers need a vendor's key: their config is checked instead.
		var kept []string
		for _, line := range strings.Split(body, "\n") {
			if servesLine.MatchString(line) {
				t.Logf("  not started:%s", reason)
				continue
			}
			kept = append(kept, line)
		}
		body = strings.Join(kept, "\n")
	case "postgres":
		if !r.postgres(b) {
			return false
		}
	case "s3":
		r.startS3()
	case "":
	default:
		t.Errorf("%s: unknown marker %q (norun: REASON, check-only: REASON, postgres, s3)", b, b.tag)
		return false
	}

	// Lines run in order, a server's in the background once the lines
	// before it are done.
	var (
		out    strings.Builder
		script []string
	)
	flush := func() {
		if strings.TrimSpace(strings.Join(script, "")) != "" {
			out.WriteString(r.bash(b, strings.Join(script, "\n"), r.save()))
		}
		script = nil
	}
	for _, line := range strings.Split(body, "\n") {
		if servesLine.MatchString(line) {
			flush()
			r.serve(b, line)
			continue
		}
		if trimmed := strings.TrimSpace(line); strings.HasPrefix(trimmed, "export ") || assignment.MatchString(trimmed) {
			for _, m := range assigns.FindAllStringSubmatch(trimmed, -1) {
				r.vars = append(r.vars, m[1])
			}
		}
		script = append(script, line)
	}
	flush()
	if errorJSON.MatchString(out.String()) {
		t.Errorf("%s: an error in its output:\n%s", b, out.String())
	}
	for line, wants := range expect {
		if !strings.Contains(b.body, line) {
			continue
		}
		for _, w := range wants {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: its output lacks %q:\n%s", b, w, out.String())
			}
		}
	}
	return true
}

// save is the shell that keeps the blocks' variables for the next one.
func (r *runner) save() string {
	if len(r.vars) == 0 {
		return ""
	}
	return "declare -p " + strings.Join(r.vars, " ") + " > " + r.state + " 2>/dev/null || true"
}

// bash runs script after the variables earlier blocks set, failing on the
// first command that fails, and returns its output.
func (r *runner) bash(b block, script, after string) string {
	t := r.t
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	full := "set -eo pipefail\nif [ -f " + r.state + " ]; then source " + r.state + "; fi\n" + script + "\n" + after + "\n"
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", "-c", full)
	cmd.Dir, cmd.Env = r.dir, r.env
	out, err := cmd.CombinedOutput()
	t.Logf("  output:\n%s", indent(out))
	if err != nil {
		t.Errorf("%s failed: %v\n%s\n%s", b, err, script, out)
	}
	return string(out)
}

// serve starts a server line in the background and waits until it
// answers on its --listen address (the default 127.0.0.1:8080).
func (r *runner) serve(b block, line string) {
	t := r.t
	addr := "127.0.0.1:8080"
	if m := listenFlag.FindStringSubmatch(line); m != nil {
		addr = m[1]
	}
	log, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", "-c", "exec "+line)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = r.dir, r.env, log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %s: %v", b, line, err)
	}
	r.servers = append(r.servers, cmd)
	t.Logf("  started in the background: %s", line)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// `go run` compiles first: give it time.
	deadline := time.Now().Add(4 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			logText, _ := os.ReadFile(log.Name())
			t.Fatalf("%s: %s exited: %v\n%s", b, line, err, logText)
		case <-time.After(200 * time.Millisecond):
		}
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	logText, _ := os.ReadFile(log.Name())
	t.Fatalf("%s: %s did not answer on %s\n%s", b, line, addr, logText)
}

// stopServers stops the background servers as an operator would
// (SIGTERM, then SIGKILL after the drain).
func (r *runner) stopServers() {
	for _, cmd := range r.servers {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(40 * time.Second)
	for _, cmd := range r.servers {
		for time.Now().Before(deadline) && syscall.Kill(-cmd.Process.Pid, 0) == nil {
			time.Sleep(100 * time.Millisecond)
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if r.s3 != nil {
		r.s3.Close()
	}
}

// yaml checks a configuration block with `bulwark config check`. YAML of
// another tool carries its name after the language and is left alone.
func (r *runner) yaml(b block) {
	if b.tag != "" {
		r.t.Logf("%s: another tool's", b)
		return
	}
	file := filepath.Join(r.t.TempDir(), fmt.Sprintf("readme-%d.yaml", b.line))
	if err := os.WriteFile(file, []byte(b.body), 0o600); err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command(r.bin, "config", "check", file)
	cmd.Dir, cmd.Env = r.dir, r.env
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Errorf("%s: config check: %v\n%s\n%s", b, err, b.body, out)
	}
}

// python compiles a Python block (the SDK it calls is not installed here).
func (r *runner) python(b block) {
	py, err := exec.LookPath("python3")
	if err != nil {
		r.t.Logf("%s: no python3 to compile it", b)
		return
	}
	cmd := exec.Command(py, "-c", "import sys; compile(sys.stdin.read(), 'README.md:"+fmt.Sprint(b.line)+"', 'exec')")
	cmd.Stdin = strings.NewReader(b.body)
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Errorf("%s does not compile: %v\n%s", b, err, out)
	}
}

// postgres gives a postgres block what its text says it runs with:
// BULWARK_POSTGRES_URL, a database with Bulwark's schema, and
// BULWARK_RESTORE_URL, a new, empty one. It reports whether the block
// can run.
func (r *runner) postgres(b block) bool {
	t := r.t
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s: %s is required in CI: %v", b, tool, err)
			}
			t.Logf("%s: not run: %s is not installed", b, tool)
			return false
		}
	}
	server := os.Getenv("BULWARK_TEST_POSTGRES_URL")
	if server == "" {
		server = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: postgres at BULWARK_TEST_POSTGRES_URL is required in CI: %v", b, err)
		}
		t.Logf("%s: not run: postgres unreachable: %v", b, err)
		return false
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	suffix := strings.ToLower(rand.Text()[:10])
	urls := map[string]string{}
	for _, v := range []string{"BULWARK_POSTGRES_URL", "BULWARK_RESTORE_URL"} {
		name := "readme_" + suffix + "_" + strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(v, "BULWARK_"), "_URL"))
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			t.Fatalf("create database: %v", err)
		}
		t.Cleanup(func() {
			_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		})
		cfg, err := pgx.ParseConfig(server)
		if err != nil {
			t.Fatal(err)
		}
		urls[v] = withDatabase(server, cfg.Database, name)
	}
	db, err := postgres.Open(ctx, urls["BULWARK_POSTGRES_URL"])
	if err != nil {
		t.Fatalf("open the database to dump: %v", err)
	}
	_ = db.Close()
	for v, u := range urls {
		r.env = append(r.env, v+"="+u)
	}
	return true
}

// withDatabase replaces the database name in a postgres URL.
func withDatabase(url, from, to string) string {
	before, after, ok := strings.Cut(url, "/"+from)
	if !ok {
		return url
	}
	return before + "/" + to + after
}

// startS3 serves an in-memory S3 where README's s3 blocks look for one
// (SeaweedFS's address, 127.0.0.1:8333), with their bucket.
func (r *runner) startS3() {
	t := r.t
	if r.s3 != nil {
		return
	}
	l, err := net.Listen("tcp", "127.0.0.1:8333")
	if err != nil {
		need(t, "README.md's S3 examples use 127.0.0.1:8333, which is taken: %v", err)
	}
	backend := s3mem.New()
	if err := backend.CreateBucket("bulwark-backups"); err != nil {
		t.Fatal(err)
	}
	r.s3 = httptest.NewUnstartedServer(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	r.s3.Listener.Close()
	r.s3.Listener = l
	r.s3.Start()
}

func indent(b []byte) string {
	var out bytes.Buffer
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		out.WriteString("    " + line + "\n")
	}
	return out.String()
}
