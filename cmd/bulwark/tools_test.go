package main

import (
	"strings"
	"testing"
)

// --tools sets a tenant's or key's tool allowlist on create and update,
// "" clears it, and update shows it.
func TestToolsFlag(t *testing.T) {
	url, _ := serveForCLI(t)
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		return runCmd(t, append(args, "--url", url, "--key", cliAdminKey)...)
	}
	if code, out, errOut := cli("tenants", "create", "acme", "--tools", "search_*,crm.get"); code != 0 {
		t.Fatalf("tenants create: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := cli("keys", "create", "--tenant", "acme", "--tools", "search_web"); code != 0 {
		t.Fatalf("keys create: %d %q %q", code, out, errOut)
	}
	_, out, _ := cli("keys", "list", "--tenant", "acme")
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	code, out, errOut := cli("keys", "update", id, "--tools", "weather, search_web")
	if code != 0 || !strings.Contains(out, "tools [weather,search_web]") {
		t.Fatalf("keys update: %d %q %q", code, out, errOut)
	}
	code, out, errOut = cli("tenants", "update", "acme", "--tools", "")
	if code != 0 || !strings.Contains(out, "tools []") {
		t.Fatalf("tenants update: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := cli("keys", "update", id, "--tools", "[bad"); code == 0 {
		t.Errorf("a malformed glob was taken: %q %q", out, errOut)
	}
}
