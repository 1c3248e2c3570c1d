package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBatchesCommands: a file of requests submitted and waited for, its
// results written; list, get and results by id; a file that is not one
// is refused before anything is uploaded.
func TestBatchesCommands(t *testing.T) {
	url, _ := serveForCLI(t)
	batches := func(args ...string) (int, string, string) {
		t.Helper()
		return runCmd(t, append(append([]string{"batches"}, args...), "--url", url, "--key", cliAdminKey)...)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "requests.jsonl")
	var lines []string
	for _, id := range []string{"a", "b", "c"} {
		lines = append(lines, `{"custom_id":"`+id+`","method":"POST","url":"/v1/chat/completions","body":{"model":"sim-chat","messages":[{"role":"user","content":"hi `+id+`"}],"max_tokens":4}}`)
	}
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "results.jsonl")
	code, stdout, stderr := batches("submit", in, "--wait", "--poll", "50ms", "--out", out)
	if code != 0 || !strings.Contains(stdout, "completed: 3 completed, 0 failed of 3") || !strings.Contains(stdout, "wrote 3 lines") {
		t.Fatalf("submit --wait: %d\n%s\n%s", code, stdout, stderr)
	}
	id := strings.Fields(stdout)[0]
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, cid := range []string{`"custom_id":"a"`, `"custom_id":"b"`, `"custom_id":"c"`} {
		if strings.Count(string(got), cid) != 1 {
			t.Errorf("results hold %s %d times:\n%s", cid, strings.Count(string(got), cid), got)
		}
	}
	if code, stdout, _ := batches("list"); code != 0 || !strings.Contains(stdout, id) || !strings.Contains(stdout, "completed") {
		t.Errorf("list: %d\n%s", code, stdout)
	}
	if code, stdout, _ := batches("get", id); code != 0 || !strings.Contains(stdout, `"status": "completed"`) {
		t.Errorf("get: %d\n%s", code, stdout)
	}
	if code, stdout, _ := batches("results", id); code != 0 || strings.Count(stdout, "custom_id") != 3 {
		t.Errorf("results: %d\n%s", code, stdout)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("not json\n"), 0o600)
	if code, _, stderr := batches("submit", bad); code != 1 || !strings.Contains(stderr, "first line") {
		t.Errorf("submit of a file that is not one: %d %s", code, stderr)
	}
	if code, _, _ := batches("get"); code != 2 {
		t.Errorf("get without an id: exit %d, want 2", code)
	}
}
