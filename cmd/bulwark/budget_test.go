package main

import (
	"strings"
	"testing"
)

func TestBudgetCommands(t *testing.T) {
	url, _ := serveForCLI(t)
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		return runCmd(t, append(args, "--url", url, "--key", cliAdminKey)...)
	}
	if code, out, errOut := cli("tenants", "create", "acme"); code != 0 {
		t.Fatalf("tenants create: %d %q %q", code, out, errOut)
	}
	code, out, errOut := cli("tenants", "budget", "acme", "--usd", "25", "--period", "month", "--hard")
	if code != 0 || !strings.Contains(out, "tenant acme: $25.00 per month (hard)") || !strings.Contains(out, "spent") {
		t.Fatalf("tenants budget set: %d %q %q", code, out, errOut)
	}
	if code, out, _ = cli("tenants", "budget", "acme"); code != 0 || !strings.Contains(out, "$25.00 per month") {
		t.Fatalf("tenants budget show: %d %q", code, out)
	}
	code, out, errOut = cli("keys", "create", "--tenant", "acme")
	if code != 0 {
		t.Fatalf("keys create: %d %q", code, errOut)
	}
	_, out, _ = cli("keys", "list", "--tenant", "acme")
	keyID := strings.Fields(strings.Split(out, "\n")[1])[0]
	if code, out, errOut = cli("keys", "budget", keyID, "--usd", "1.5", "--period", "day"); code != 0 || !strings.Contains(out, "(soft)") {
		t.Fatalf("keys budget set: %d %q %q", code, out, errOut)
	}
	if code, out, _ = cli("keys", "budget", keyID, "--delete"); code != 0 || !strings.Contains(out, "removed") {
		t.Fatalf("keys budget delete: %d %q", code, out)
	}
	if code, _, errOut = cli("keys", "budget", keyID); code == 0 || !strings.Contains(errOut, "has no budget") {
		t.Errorf("keys budget show after delete: %d %q; want an error", code, errOut)
	}
	// Half a budget is a usage error; a bad period is the API's 400.
	if code, _, _ = cli("keys", "budget", keyID, "--usd", "1"); code == 0 {
		t.Error("--usd without --period accepted")
	}
	if code, _, errOut = cli("keys", "budget", keyID, "--usd", "1", "--period", "week"); code == 0 || !strings.Contains(errOut, "period") {
		t.Errorf("--period week: %d %q; want the API's error", code, errOut)
	}
}
