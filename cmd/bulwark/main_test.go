package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("models:\n  - name: chat\n    targets: [{provider: sim, model: sim-chat}]\n"), 0o600)
	code, out, _ := runCmd(t, "config", "check", good)
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("good config: code %d, out %q", code, out)
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(`listen: 127.0.0.1:8080
providers:
  openai: {type: opena, base_url: https://api.openai.com/v1}
models:
  - name: chat
    targets:
      - {provider: nowhere, model: gpt-4o-mini}
    timeout: 5
`), 0o600)
	code, _, errOut := runCmd(t, "config", "check", bad)
	if code != 1 {
		t.Fatalf("bad config: code %d", code)
	}
	// Every problem is printed, each with its path and line.
	for _, want := range []string{"providers.openai.type", "line 3", "models[0].targets[0].provider", "line 7", "models[0].timeout", "line 8"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("config check output lacks %q:\n%s", want, errOut)
		}
	}
}

func TestUsageAndVersion(t *testing.T) {
	if code, _, _ := runCmd(t); code != 2 {
		t.Errorf("no args: code %d", code)
	}
	if code, _, errOut := runCmd(t, "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: code %d, %q", code, errOut)
	}
	if code, out, _ := runCmd(t, "version"); code != 0 || !strings.HasPrefix(out, "bulwark ") {
		t.Errorf("version: code %d, %q", code, out)
	}
	if code, _, _ := runCmd(t, "config", "check"); code != 2 {
		t.Errorf("config check without file: code %d", code)
	}
}

func TestServeRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listen: [\n"), 0o600)
	code, _, errOut := runCmd(t, "serve", "--config", bad, "--data-dir", filepath.Join(dir, "d"))
	if code != 1 || !strings.Contains(errOut, "bad.yaml") {
		t.Errorf("serve with a broken config: code %d, %q", code, errOut)
	}
}
