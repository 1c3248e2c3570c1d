package api

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRawErrorsInOpenAIFormat: the answers net/http writes before any
// handler (a malformed request, headers far too large) come out as
// OpenAI errors, while a handler's answers pass untouched.
func TestRawErrorsInOpenAIFormat(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "plain from a handler", http.StatusBadRequest)
		}),
		MaxHeaderBytes: 1 << 10,
	}
	go srv.Serve(WithJSONRawErrors(ln, 1<<10))
	t.Cleanup(func() { srv.Close() })

	send := func(raw string) (*http.Response, string) {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, tc := range []struct {
		name, raw string
		status    int
		code      string
	}{
		{"malformed request line", "GARBAGE\r\n\r\n", 400, "bad_request"},
		{"malformed header", "GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400, "bad_request"},
		{"headers too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Filler: " + strings.Repeat("a", 8<<10) + "\r\n\r\n", 431, "request_header_fields_too_large"},
	} {
		resp, body := send(tc.raw)
		var e struct {
			Error struct{ Message, Type, Code string }
		}
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &e) != nil || e.Error.Code != tc.code {
			t.Errorf("%s: %d %q %s; want %d with code %s", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status, tc.code)
		}
	}
	// A handler's plain-text error is the handler's business.
	resp, body := send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 400 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || !strings.Contains(body, "plain from a handler") {
		t.Errorf("a handler's answer was changed: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

func FuzzRewriteRawError(f *testing.F) {
	f.Add([]byte("HTTP/1.1 400 Bad Request" + rawErrorHeaders + "400 Bad Request: malformed HTTP request \"x\""))
	f.Add([]byte("HTTP/1.1 200 OK\r\nDate: x\r\n\r\n{}"))
	f.Fuzz(func(t *testing.T, p []byte) {
		out, ok := rewriteRawError(p, 1024)
		if !ok {
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(out))), nil)
		if err != nil {
			t.Fatalf("rewrote %q into an unreadable answer: %v", p, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if !json.Valid(b) {
			t.Fatalf("rewrote %q into a body that is not JSON: %q", p, b)
		}
	})
}
