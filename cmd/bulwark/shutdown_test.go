package main

import (
	"bufio"
	"context"
	"database/sql"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeEndsStreamsAtTheGraceAndKeepsTheirUsage runs `bulwark serve`
// with streams, over HTTP/1.1 and cleartext HTTP/2, that outlive its
// shutdown grace, and stops it: each stream ends with a
// server_shutting_down error event and a clean end of its body, and once
// serve returned the ledger holds each stream's usage record.
func TestServeEndsStreamsAtTheGraceAndKeepsTheirUsage(t *testing.T) {
	const adminKey = "bk-serve-test-admin-key-0123456789"
	t.Setenv("BULWARK_ADMIN_KEY", adminKey)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bulwark.yaml")
	if err := os.WriteFile(cfg, []byte(`
log: {level: error}
server: {shutdown_grace: 300ms, h2c: true}
providers:
  sim:
    type: sim
    models:
      long-chat:
        ttft: {p50: 10ms}
        itl: {p50: 50ms}
        output_tokens: {min: 100, max: 100}
models:
  - name: long
    targets: [{provider: sim, model: long-chat}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--config", cfg, "--listen", addr, "--data-dir", dir}, io.Discard, io.Discard)
	}()
	get(t, http.DefaultClient, "http://"+addr+"/healthz").Body.Close()

	clients := map[string]*http.Client{"HTTP/1.1": http.DefaultClient, "HTTP/2": h2cClient()}
	bodies := map[string]*bufio.Reader{}
	for name, c := range clients {
		req, _ := http.NewRequest("POST", "http://"+addr+"/v1/chat/completions",
			strings.NewReader(`{"model":"long","messages":[{"role":"user","content":"hi"}],"stream":true}`))
		req.Header.Set("Authorization", "Bearer "+adminKey)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer resp.Body.Close()
		rd := bufio.NewReader(resp.Body)
		if line, err := rd.ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: {") {
			t.Fatalf("%s: first line %q, %v", name, line, err)
		}
		bodies[name] = rd
	}
	cancel()
	for name, rd := range bodies {
		rest, err := io.ReadAll(rd)
		if err != nil {
			t.Errorf("%s: the body did not end cleanly: %v", name, err)
		}
		if !strings.HasSuffix(string(rest), `"code":"server_shutting_down"}}`+"\n\n") || strings.Contains(string(rest), "[DONE]") {
			t.Errorf("%s: the stream ended with %q, want a server_shutting_down error event", name, tail(string(rest)))
		}
	}
	if code := <-done; code != 0 {
		t.Fatalf("serve exited with %d", code)
	}

	db, err := sql.Open("sqlite", filepath.Join(dir, "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM usage_records WHERE alias = 'long' AND stream = 1 AND status = 'server_shutting_down'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(clients) {
		t.Errorf("%d usage records of streams cut by the shutdown, want %d", n, len(clients))
	}
}

// tail returns the end of s, for a message.
func tail(s string) string {
	if len(s) > 300 {
		return "…" + s[len(s)-300:]
	}
	return s
}
