package main

import (
	"bytes"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestEveryCommandHelp: --help of every subcommand exits 0 and names
// every flag with its default (or says it is required).
func TestEveryCommandHelp(t *testing.T) {
	commands := [][]string{
		{"serve"}, {"sim"}, {"config", "check"},
		{"tenants", "create"}, {"tenants", "list"}, {"tenants", "update"}, {"tenants", "budget"},
		{"keys", "create"}, {"keys", "list"}, {"keys", "update"}, {"keys", "revoke"}, {"keys", "rotate"}, {"keys", "budget"},
		{"prompts", "create"}, {"prompts", "version"}, {"prompts", "list"}, {"prompts", "show"}, {"prompts", "label"}, {"prompts", "rollback"},
		{"kb", "ingest"}, {"kb", "search"}, {"kb", "status"}, {"kb", "export"}, {"kb", "import"},
		{"batches", "submit"}, {"batches", "list"}, {"batches", "get"}, {"batches", "cancel"}, {"batches", "results"},
		{"cache", "calibrate"}, {"backup"}, {"backup", "verify"}, {"restore"},
		{"gameday"},
	}
	for _, c := range commands {
		name := strings.Join(c, " ")
		code, out, errOut := runCmd(t, append(c, "--help")...)
		help := out + errOut
		if code != 0 {
			t.Errorf("%s --help: exit %d\n%s", name, code, help)
			continue
		}
		flags := 0
		lines := strings.Split(help, "\n")
		for i, line := range lines {
			if !strings.HasPrefix(line, "  --") {
				continue
			}
			flags++
			if i+1 == len(lines) || !(strings.Contains(lines[i+1], "(default") || strings.Contains(lines[i+1], "(required")) {
				t.Errorf("%s --help: %s has no default:\n%s", name, strings.TrimSpace(line), help)
			}
		}
		if flags == 0 && name != "backup verify" {
			t.Errorf("%s --help lists no flags:\n%s", name, help)
		}
	}
}

// TestActivity: a command that ends within a second prints nothing; one
// that takes longer says what it does, a line per step off a terminal.
func TestActivity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var quick bytes.Buffer
		a := startActivity(&quick, "backup")
		a.Step("snapshot of the database")
		time.Sleep(500 * time.Millisecond)
		a.Done()
		if quick.Len() != 0 {
			t.Errorf("a half-second command printed %q", quick.String())
		}

		var slow bytes.Buffer
		a = startActivity(&slow, "backup")
		a.Step("snapshot of the database")
		time.Sleep(1500 * time.Millisecond)
		a.Step("writing the archive")
		time.Sleep(6 * time.Second)
		a.Step("uploading")
		a.Done()
		want := "backup: snapshot of the database…\nbackup: uploading…\n"
		if slow.String() != want {
			t.Errorf("a slow command printed %q, want %q", slow.String(), want)
		}
	})
}
