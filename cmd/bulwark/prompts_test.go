package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPromptsCommands(t *testing.T) {
	url, _ := serveForCLI(t)
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		return runCmd(t, append(args, "--url", url, "--key", cliAdminKey)...)
	}
	file := filepath.Join(t.TempDir(), "v2.json")
	if err := os.WriteFile(file, []byte(`{"messages":[{"role":"system","content":"Summarise tersely in {{language}}."},
		{"role":"user","content":"{{text}}"}],"variables":[{"name":"text","required":true},{"name":"language","default":"English"}],
		"params":{"model":"sim-chat"},"note":"terser"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cli("prompts", "create", "summary", "--system", "Summarise in {{language}}.", "--user", "{{text}}",
		"--var", "text", "--var", "language=English", "--model", "sim-chat", "--temperature", "0.3", "--label", "production",
		"--description", "Summaries")
	if code != 0 || !strings.Contains(out, "created prompt summary (tenant default), version 1, labels: production=1") {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	code, out, errOut = cli("prompts", "version", "summary", "--file", file)
	if code != 0 || !strings.Contains(out, "created version 2 of prompt summary") {
		t.Fatalf("version: %d %q %q", code, out, errOut)
	}
	code, out, errOut = cli("prompts", "label", "summary", "production", "2")
	if code != 0 || !strings.Contains(out, "label production of prompt summary: version 1 -> 2") {
		t.Fatalf("label: %d %q %q", code, out, errOut)
	}
	code, out, _ = cli("prompts", "list")
	if code != 0 || !strings.Contains(out, "summary") || !strings.Contains(out, "production=2") {
		t.Fatalf("list: %d %q", code, out)
	}
	code, out, errOut = cli("prompts", "rollback", "summary")
	if code != 0 || !strings.Contains(out, "version 2 -> 1") {
		t.Fatalf("rollback: %d %q %q", code, out, errOut)
	}
	code, out, _ = cli("prompts", "show", "summary")
	if code != 0 || !strings.Contains(out, "latest version 2, labels: production=1") || !strings.Contains(out, "[system] Summarise tersely in {{language}}.") ||
		!strings.Contains(out, "variable text (required)") {
		t.Fatalf("show: %d %q", code, out)
	}
	code, out, _ = cli("prompts", "show", "summary", "--version", "1")
	if code != 0 || !strings.Contains(out, `"temperature":0.3`) {
		t.Fatalf("show --version 1: %d %q", code, out)
	}
	code, _, errOut = cli("prompts", "rollback", "summary")
	if code != 1 || !strings.Contains(errOut, "no version before it") {
		t.Fatalf("rollback past 1: %d %q", code, errOut)
	}
	code, _, errOut = cli("prompts", "create", "bad", "--user", "{{nope}}")
	if code != 1 || !strings.Contains(errOut, "nope") {
		t.Fatalf("create with an undeclared variable: %d %q", code, errOut)
	}
}
