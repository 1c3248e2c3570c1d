package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/tenant"
)

// readyzSnapshot is the snapshot check of /readyz.
type readyzSnapshot struct {
	Status string `json:"status"`
	Checks struct {
		Snapshot *struct {
			Status     string `json:"status"`
			Source     string `json:"source"`
			AgeSeconds *int64 `json:"age_seconds"`
		} `json:"snapshot"`
	} `json:"checks"`
}

func getReadyz(t *testing.T, ts *testServer) (int, readyzSnapshot, string) {
	t.Helper()
	resp, body := ts.do(t, "GET", "/readyz", "", "Authorization", "")
	var r readyzSnapshot
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("readyz: %v: %s", err, body)
	}
	return resp.StatusCode, r, string(body)
}

// Static stability at start: a replica restarted while Postgres is
// unreachable starts from the key set it saved in its data directory,
// authenticates and serves, says so in /readyz and its metrics, and once
// Postgres is back, without a restart, writes the usage it spilled to the
// ledger and loads the key set from the store again. Without a saved key
// set, the start fails: there is nothing to authenticate with.
func TestStartWithPostgresDownServesFromSnapshot(t *testing.T) {
	storeURL, px := pgBehindProxy(t)
	cfg := fastConfig + `
store: {type: postgres, url: "` + storeURL + `"}
`
	dataDir := filepath.Join(t.TempDir(), "data")
	inDataDir := func(o *Options) { o.DataDir = dataDir }

	first := start(t, cfg, inDataDir)
	_, secret := createKey(t, first, `{"id":"acme"}`, `{"tenant_id":"acme","name":"app"}`)
	auth := "Bearer " + secret
	if resp, body := first.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", auth); resp.StatusCode != 200 {
		t.Fatalf("chat: %d %s", resp.StatusCode, body)
	}
	if _, r, body := getReadyz(t, first); r.Checks.Snapshot == nil || r.Checks.Snapshot.Source != "store" || r.Checks.Snapshot.Status != "ok" {
		t.Errorf("readyz with Postgres up: %s; want a snapshot check, ok, source store", body)
	}
	snap, err := os.ReadFile(filepath.Join(dataDir, tenant.SnapshotFile))
	if err != nil {
		t.Fatalf("no key set snapshot in the data directory: %v", err)
	}
	if bytes.Contains(snap, []byte(secret)) || bytes.Contains(snap, []byte(testAdminKey)) {
		t.Fatal("the key set snapshot holds a secret in clear")
	}
	waitUsage(t, first, "tenant_id=acme", 1)
	first.stop()

	px.Cut()
	// A data directory without a snapshot has nothing to authenticate
	// with: the start fails, and says why.
	_, err = New(context.Background(), Options{ConfigPath: writeConfig(t, cfg), DataDir: filepath.Join(t.TempDir(), "empty"),
		AdminKey: testAdminKey, Out: io.Discard, LogOutput: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "no key set to start from") {
		t.Fatalf("New with Postgres down and no snapshot = %v; want an error saying there is no key set", err)
	}

	second := start(t, cfg, inDataDir)
	for i := range 3 {
		if resp, body := second.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", auth); resp.StatusCode != 200 {
			t.Fatalf("chat %d on a replica started with Postgres down: %d %s", i, resp.StatusCode, body)
		}
	}
	// The bootstrap admin key authenticates too.
	if resp, body := second.do(t, "GET", "/v1/models", ""); resp.StatusCode != 200 {
		t.Fatalf("admin key on a replica started with Postgres down: %d %s", resp.StatusCode, body)
	}
	code, r, body := getReadyz(t, second)
	if code != 200 || r.Status != "degraded" || r.Checks.Snapshot == nil || r.Checks.Snapshot.Source != "snapshot" ||
		r.Checks.Snapshot.Status != "degraded" || r.Checks.Snapshot.AgeSeconds == nil {
		t.Errorf("readyz on a replica started with Postgres down: %d %s; want 200, degraded, the snapshot's source and age", code, body)
	}
	if resp, body := second.do(t, "GET", "/metrics", "", "Authorization", ""); resp.StatusCode != 200 ||
		!strings.Contains(string(body), "bulwark_keyset_snapshot_age_seconds ") {
		t.Errorf("metrics lack bulwark_keyset_snapshot_age_seconds: %d", resp.StatusCode)
	}

	if err := px.Restore(); err != nil {
		t.Fatal(err)
	}
	waitUsage(t, second, "tenant_id=acme", 4)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, r, body := getReadyz(t, second)
		if r.Checks.Snapshot != nil && r.Checks.Snapshot.Source == "store" && r.Checks.Snapshot.Status == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the key set is not reloaded from the store 15s after Postgres came back: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeConfig writes cfg to a file of the test's and returns its path.
func writeConfig(t *testing.T, cfg string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bulwark.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
