package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// h2cClient speaks cleartext HTTP/2 with prior knowledge only.
func h2cClient() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// get retries until the listener is up.
func get(t *testing.T, c *http.Client, url string) *http.Response {
	t.Helper()
	var err error
	for range 300 {
		var resp *http.Response
		if resp, err = c.Get(url); err == nil {
			return resp
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal(err)
	return nil
}

// `bulwark sim` also serves cleartext HTTP/2, so that a gateway can hold
// many upstream streams on few connections.
func TestSimServesH2C(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- simulate(ctx, []string{"--listen", addr}, io.Discard) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sim: %v", err)
		}
	}()
	c := h2cClient()
	defer c.CloseIdleConnections()
	get(t, c, "http://"+addr+"/v1/models").Body.Close()
	resp, err := c.Post("http://"+addr+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"sim-chat","stream":true,"messages":[{"role":"user","content":"hi"}],"max_tokens":3}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
		t.Fatalf("%s %d %s", resp.Proto, resp.StatusCode, body)
	}
}

// With server.h2c, `bulwark serve` answers cleartext HTTP/2 and still
// HTTP/1.1; without it, it answers HTTP/1.1 only.
func TestServeH2C(t *testing.T) {
	t.Setenv("BULWARK_ADMIN_KEY", "bk-serve-test-admin-key-0123456789")
	for _, h2c := range []bool{true, false} {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "bulwark.yaml")
		if err := os.WriteFile(cfg, []byte("server:\n  stream_write_timeout: 5s\n  h2c: "+map[bool]string{true: "true", false: "false"}[h2c]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		addr := freeAddr(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, []string{"serve", "--config", cfg, "--listen", addr, "--data-dir", dir}, io.Discard, io.Discard)
		}()
		resp := get(t, http.DefaultClient, "http://"+addr+"/healthz") // HTTP/1.1, once it listens
		resp.Body.Close()
		if resp.ProtoMajor != 1 || resp.StatusCode != 200 {
			t.Errorf("h2c %v: HTTP/1.1 healthz: %s %d", h2c, resp.Proto, resp.StatusCode)
		}
		c := h2cClient()
		resp, err := c.Get("http://" + addr + "/healthz")
		switch {
		case h2c && err != nil:
			t.Errorf("h2c on: %v", err)
		case h2c:
			resp.Body.Close()
			if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
				t.Errorf("h2c on: %s %d", resp.Proto, resp.StatusCode)
			}
		case err == nil:
			resp.Body.Close()
			t.Errorf("h2c off: an HTTP/2 client was answered (%s %d)", resp.Proto, resp.StatusCode)
		}
		c.CloseIdleConnections()
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("serve exited with %d", code)
		}
	}
}
