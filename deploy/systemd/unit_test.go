package systemd

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/config"
)

// unit is a parsed unit file: each section's keys and their values, in
// order (a key may be given more than once).
type unit map[string]map[string][]string

func parse(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		case section == "":
			t.Fatalf("%s:%d: %q before any section", path, n, line)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || strings.TrimSpace(k) == "" {
				t.Fatalf("%s:%d: %q is not key=value", path, n, line)
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

func (u unit) get(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

func TestUnit(t *testing.T) {
	u := parse(t, "bulwark.service")
	for _, s := range []string{"Unit", "Service", "Install"} {
		if u[s] == nil {
			t.Errorf("no [%s] section", s)
		}
	}
	for key, want := range map[string]string{
		"DynamicUser":     "yes",
		"StateDirectory":  "bulwark",
		"ProtectSystem":   "strict",
		"ProtectHome":     "yes",
		"PrivateTmp":      "yes",
		"NoNewPrivileges": "yes",
		"Restart":         "on-failure",
		"EnvironmentFile": "/etc/bulwark/bulwark.env",
	} {
		if got := u.get("Service", key); got != want {
			t.Errorf("%s=%q; want %q", key, got, want)
		}
	}
	if _, ok := u["Service"]["CapabilityBoundingSet"]; !ok || u.get("Service", "CapabilityBoundingSet") != "" {
		t.Errorf("CapabilityBoundingSet=%q; want it empty", u.get("Service", "CapabilityBoundingSet"))
	}
	start := strings.Fields(u.get("Service", "ExecStart"))
	if len(start) < 2 || start[1] != "serve" {
		t.Fatalf("ExecStart=%v; want bulwark serve", start)
	}
	flags := strings.Join(start[2:], " ")
	for _, want := range []string{"--config /etc/bulwark/bulwark.yaml", "--data-dir ${STATE_DIRECTORY}", "--listen "} {
		if !strings.Contains(flags, want) {
			t.Errorf("ExecStart flags %q lack %q", flags, want)
		}
	}

	// systemd must wait for the drain and the last usage records.
	stop, err := time.ParseDuration(u.get("Service", "TimeoutStopSec"))
	if err != nil {
		t.Fatalf("TimeoutStopSec=%q: %v", u.get("Service", "TimeoutStopSec"), err)
	}
	if grace := config.DefaultShutdownGrace.D(); stop < grace+10*time.Second {
		t.Errorf("TimeoutStopSec %v; want at least server.shutdown_grace's default %v + 10s", stop, grace)
	}
	if got := u.get("Install", "WantedBy"); got != "multi-user.target" {
		t.Errorf("WantedBy=%q; want multi-user.target", got)
	}
}

// TestVerify runs systemd-analyze verify on the unit where systemd is
// installed, with ExecStart pointed at a binary that exists.
func TestVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true binary")
	}
	data, err := os.ReadFile("bulwark.service")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bulwark.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(data), "/usr/local/bin/bulwark", truePath)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
