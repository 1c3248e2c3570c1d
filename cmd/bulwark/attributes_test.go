package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// --priority, --alias and --tag reach the admin API on create and update,
// and the key's aliases show in what it may call.
func TestAttributeFlags(t *testing.T) {
	url, _ := serveForCLI(t)
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		return runCmd(t, append(args, "--url", url, "--key", cliAdminKey)...)
	}
	code, out, errOut := cli("tenants", "create", "acme", "--priority", "batch", "--tag", "team=search", "--alias", "chat=sim-chat")
	if code != 0 {
		t.Fatalf("tenants create: %d %q %q", code, out, errOut)
	}
	code, out, errOut = cli("keys", "create", "--tenant", "acme", "--alias", "fast=sim-chat", "--tag", "env=prod", "--tag", "owner=ml")
	secret := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(secret, "bk-") {
		t.Fatalf("keys create: %d %q %q", code, out, errOut)
	}
	req, _ := http.NewRequest("GET", url+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Data []struct{ ID string } }
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
	}
	if err != nil || !slices.Contains(ids, "chat") || !slices.Contains(ids, "fast") || !slices.Contains(ids, "sim-chat") {
		t.Fatalf("models of the new key = %q, %v; want chat and fast (its aliases) and sim-chat", ids, err)
	}

	code, out, _ = cli("keys", "list", "--tenant", "acme")
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	code, out, errOut = cli("keys", "update", id, "--priority", "critical", "--tag", "env=staging")
	if code != 0 || !strings.Contains(out, "priority critical") || !strings.Contains(out, "aliases {fast=sim-chat}") ||
		!strings.Contains(out, "tags {env=staging}") {
		t.Fatalf("keys update: %d %q %q", code, out, errOut)
	}
	code, out, errOut = cli("tenants", "update", "acme", "--tag", "team=ranking")
	if code != 0 || !strings.Contains(out, "priority batch") || !strings.Contains(out, "tags {team=ranking}") ||
		!strings.Contains(out, "aliases {chat=sim-chat}") {
		t.Fatalf("tenants update: %d %q %q", code, out, errOut)
	}

	// Mistakes are refused with the server's or the flag parser's word.
	for _, args := range [][]string{
		{"keys", "update", id, "--priority", "urgent"},
		{"keys", "update", id, "--alias", "chat=no-such-model"},
		{"tenants", "update", "acme", "--tag", "no-equals-sign"},
		{"tenants", "update", "acme"},
	} {
		if code, out, errOut := cli(args...); code == 0 {
			t.Errorf("%q succeeded: %q %q", args, out, errOut)
		}
	}
}
