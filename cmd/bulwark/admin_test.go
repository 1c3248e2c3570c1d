package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/app"
)

const cliAdminKey = "bk-cli-test-admin-0123456789abcdefghijklmnop"

// serveForCLI runs a Bulwark on a loopback port until the test ends and
// returns its URL and data directory.
func serveForCLI(t *testing.T) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	a, err := app.New(context.Background(), app.Options{DataDir: dir, AdminKey: cliAdminKey, Out: io.Discard, LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close()
	})
	return "http://" + ln.Addr().String(), dir
}

func TestTenantsAndKeysCommands(t *testing.T) {
	url, _ := serveForCLI(t)
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		return runCmd(t, append(args, "--url", url, "--key", cliAdminKey)...)
	}
	code, out, errOut := cli("tenants", "create", "acme", "--name", "Acme", "--rpm", "100")
	if code != 0 || !strings.Contains(out, "created tenant acme") || !strings.Contains(out, "100 rpm") {
		t.Fatalf("tenants create: %d %q %q", code, out, errOut)
	}
	code, out, _ = cli("tenants", "list")
	if code != 0 || !strings.Contains(out, "acme") || !strings.Contains(out, "default") {
		t.Fatalf("tenants list: %d %q", code, out)
	}
	code, out, errOut = cli("keys", "create", "--tenant", "acme", "--name", "app", "--models", "sim-chat", "--rpm", "5")
	secret := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(secret, "bk-") || !strings.Contains(errOut, "shown once") {
		t.Fatalf("keys create: %d %q %q", code, out, errOut)
	}
	// The new key works.
	req, _ := http.NewRequest("GET", url+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("new key: %v %v", resp, err)
	}
	code, out, _ = cli("keys", "list", "--tenant", "acme")
	if code != 0 || !strings.Contains(out, "app") || !strings.Contains(out, "5 rpm") || strings.Contains(out, secret) {
		t.Fatalf("keys list: %d %q", code, out)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if code, out, _ = cli("keys", "list", "--tenant", "acme", "--quiet"); code != 0 || out != id+"\n" {
		t.Fatalf("keys list --quiet: %d %q, want the id %s alone", code, out, id)
	}
	// Rotating gives a new secret and stops the old one.
	code, out, errOut = cli("keys", "rotate", id)
	rotated := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(rotated, "bk-") || rotated == secret {
		t.Fatalf("keys rotate: %d %q %q", code, out, errOut)
	}
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("old key after rotation: %v %v", resp, err)
	}
	secret = rotated
	req.Header.Set("Authorization", "Bearer "+secret)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("rotated key: %v %v", resp, err)
	}
	_, out, _ = cli("keys", "list", "--tenant", "acme")
	id = ""
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "active") {
			id = strings.Fields(line)[0]
		}
	}
	if !strings.Contains(out, "5 rpm") || id == "" {
		t.Fatalf("keys list after rotation: %q", out)
	}
	code, out, errOut = cli("keys", "revoke", id)
	if code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("keys revoke: %d %q %q", code, out, errOut)
	}
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("revoked key: %v %v", resp, err)
	}
	// Errors of the API are reported; a bad command line is exit code 2.
	code, _, errOut = cli("tenants", "create", "Bad ID!")
	if code != 1 || !strings.Contains(errOut, "400") {
		t.Errorf("bad tenant id: %d %q", code, errOut)
	}
	if code, _, _ := cli("keys", "create"); code != 2 {
		t.Errorf("keys create without --tenant: exit %d; want 2", code)
	}
	// A wrong key is refused.
	code, _, errOut = runCmd(t, "tenants", "list", "--url", url, "--key", "bk-wrong-key-0123456789")
	if code != 1 || !strings.Contains(errOut, "401") || strings.Contains(errOut, "bk-wrong") {
		t.Errorf("wrong key: %d %q", code, errOut)
	}
}

func TestAdminKeyFromDataDir(t *testing.T) {
	url, dir := serveForCLI(t)
	t.Setenv("BULWARK_ADMIN_KEY", "")
	// The server was given its admin key from the environment, so no
	// admin.key exists: the command says where it looked.
	code, _, errOut := runCmd(t, "tenants", "list", "--url", url, "--data-dir", dir)
	if code != 1 || !strings.Contains(errOut, "admin.key") {
		t.Errorf("no key: %d %q", code, errOut)
	}
	t.Setenv("BULWARK_ADMIN_KEY", cliAdminKey)
	var out bytes.Buffer
	if code := run(context.Background(), []string{"tenants", "list", "--url", url}, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "default") {
		t.Errorf("key from BULWARK_ADMIN_KEY: %d %q", code, out.String())
	}
}

// TestAdminTargetFromConfig: a command given the server's --config finds
// its listen address (a wildcard host dialled on this machine) and the
// admin.key of its data directory; $BULWARK_URL and explicit flags win.
func TestAdminTargetFromConfig(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "state")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "admin.key"), []byte("bk-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "serve.yaml")
	if err := os.WriteFile(cfg, []byte("listen: 0.0.0.0:18123\ndata_dir: "+data+"\nproviders:\n  x: {type: openai, base_url: http://h, api_key: \"${SURELY_UNSET_VAR}\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BULWARK_ADMIN_KEY", "")
	t.Setenv("BULWARK_URL", "")
	build := func(args ...string) *adminClient {
		t.Helper()
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		mk := adminFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		c, err := mk()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := build("--config", cfg); c.url != "http://127.0.0.1:18123" || c.key != "bk-from-file" {
		t.Errorf("--config: url %q key %q", c.url, c.key)
	}
	if c := build("--config", cfg, "--url", "http://other:1"); c.url != "http://other:1" {
		t.Errorf("--url with --config: %q", c.url)
	}
	t.Setenv("BULWARK_URL", "http://env:2/")
	if c := build("--config", cfg); c.url != "http://env:2" {
		t.Errorf("$BULWARK_URL with --config: %q", c.url)
	}
}
