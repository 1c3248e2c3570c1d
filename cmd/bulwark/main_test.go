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

// TestConfigCheckUnsetVariables: a variable not set where the file is
// checked is a warning naming it (exit 0), and a problem with --strict; a
// real problem beside it still fails the check.
func TestConfigCheckUnsetVariables(t *testing.T) {
	dir := t.TempDir()
	const unset = "BULWARK_TEST_SURELY_UNSET_KEY"
	file := filepath.Join(dir, "vendor.yaml")
	os.WriteFile(file, []byte(`providers:
  openai: {type: openai, base_url: https://api.openai.com/v1, api_key: "${`+unset+`}"}
models:
  - name: chat
    targets: [{provider: openai, model: gpt-4o-mini}]
`), 0o600)
	code, out, errOut := runCmd(t, "config", "check", file)
	if code != 0 || !strings.Contains(out, unset) || errOut != "" {
		t.Errorf("unset variable: code %d, out %q, err %q; want 0 and a warning naming it", code, out, errOut)
	}
	code, _, errOut = runCmd(t, "config", "check", "--strict", file)
	if code != 1 || !strings.Contains(errOut, unset+" is not set") {
		t.Errorf("--strict: code %d, err %q; want 1 naming the variable", code, errOut)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(`providers:
  openai: {type: openai, base_url: https://api.openai.com/v1, api_key: "${`+unset+`}"}
models:
  - name: chat
    targets: [{provider: nowhere, model: gpt-4o-mini}]
`), 0o600)
	code, _, errOut = runCmd(t, "config", "check", bad)
	if code != 1 || !strings.Contains(errOut, "models[0].targets[0].provider") || strings.Contains(errOut, unset) {
		t.Errorf("a real problem beside an unset variable: code %d, err %q; want 1 naming the problem only", code, errOut)
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
