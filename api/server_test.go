package api

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/tenant"
)

type staticAuth map[string]tenant.Principal

func (a staticAuth) Authenticate(secret string) (tenant.Principal, error) {
	if p, ok := a[secret]; ok {
		return p, nil
	}
	return tenant.Principal{}, tenant.ErrUnknownKey
}

func testHandler() http.Handler {
	return NewHandler(Options{
		Auth:         staticAuth{"user": {TenantID: "t", KeyID: "k1"}, "admin": {TenantID: "t", KeyID: "k2", Admin: true}},
		Log:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxBodyBytes: 16,
		API: map[string]AuthedHandler{
			"POST /v1/echo": func(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
				b, err := ReadBody(r)
				if err != nil {
					WriteError(w, err)
					return
				}
				w.Write(b)
			},
			"GET /v1/panic": func(w http.ResponseWriter, r *http.Request, p tenant.Principal) { panic("boom") },
		},
		Admin: map[string]AuthedHandler{
			"GET /admin/v1/x": func(w http.ResponseWriter, r *http.Request, p tenant.Principal) { w.Write([]byte(p.KeyID)) },
		},
	})
}

func serve(method, path, key, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	w := httptest.NewRecorder()
	testHandler().ServeHTTP(w, r)
	return w
}

func TestPanicIsA500InOpenAIFormatWithoutInternals(t *testing.T) {
	w := serve("GET", "/v1/panic", "user", "")
	if w.Code != 500 || !strings.Contains(w.Body.String(), `"type":"server_error"`) || strings.Contains(w.Body.String(), "boom") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func TestMethodNotAllowedNamesTheAllowedMethods(t *testing.T) {
	w := serve("DELETE", "/v1/echo", "user", "")
	if w.Code != 405 || w.Header().Get("Allow") != "POST" || !strings.Contains(w.Body.String(), "method_not_allowed") {
		t.Fatalf("%d %q %s", w.Code, w.Header().Get("Allow"), w.Body)
	}
}

func TestBodyLimit(t *testing.T) {
	if w := serve("POST", "/v1/echo", "user", "0123456789"); w.Code != 200 {
		t.Fatalf("small body: %d %s", w.Code, w.Body)
	}
	w := serve("POST", "/v1/echo", "user", strings.Repeat("x", 17))
	if w.Code != 413 || !strings.Contains(w.Body.String(), "request_too_large") {
		t.Fatalf("large body: %d %s", w.Code, w.Body)
	}
	// Without a Content-Length the limit still holds while reading.
	r := httptest.NewRequest("POST", "/v1/echo", io.MultiReader(strings.NewReader(strings.Repeat("x", 40))))
	r.ContentLength = -1
	r.Header.Set("Authorization", "Bearer user")
	rec := httptest.NewRecorder()
	testHandler().ServeHTTP(rec, r)
	if rec.Code != 413 {
		t.Fatalf("chunked large body: %d %s", rec.Code, rec.Body)
	}
}

func TestAdminNeedsAdminKey(t *testing.T) {
	if w := serve("GET", "/admin/v1/x", "user", ""); w.Code != 403 {
		t.Fatalf("user key on admin API: %d", w.Code)
	}
	if w := serve("GET", "/admin/v1/x", "admin", ""); w.Code != 200 || w.Body.String() != "k2" {
		t.Fatalf("admin key: %d %s", w.Code, w.Body)
	}
}

func TestRequestIDValidation(t *testing.T) {
	for id, keep := range map[string]bool{"abc-123": true, "": false, "has space": false, strings.Repeat("a", 129): false, "bad\x01": false} {
		r := httptest.NewRequest("GET", "/healthz-missing", nil)
		r.Header.Set(HeaderRequestID, id)
		w := httptest.NewRecorder()
		testHandler().ServeHTTP(w, r)
		got := w.Header().Get(HeaderRequestID)
		if keep != (got == id) || got == "" {
			t.Errorf("id %q: response id %q", id, got)
		}
	}
}

func TestKeyFromRequest(t *testing.T) {
	cases := []struct{ header, value, want string }{
		{"Authorization", "Bearer abc", "abc"},
		{"Authorization", "bearer  abc ", "abc"},
		{"Authorization", "Basic abc", ""},
		{"X-Api-Key", "k", "k"},
		{"Api-Key", "k2", "k2"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set(c.header, c.value)
		if got := KeyFromRequest(r); got != c.want {
			t.Errorf("%s: %q → %q, want %q", c.header, c.value, got, c.want)
		}
	}
}

func TestAsErrorNeverLeaksInternalErrors(t *testing.T) {
	e := AsError(errors.New("dial tcp 10.0.0.1: secret-ish detail"))
	if e.Status != 500 || strings.Contains(e.Message, "10.0.0.1") {
		t.Fatalf("%+v", e)
	}
}

func TestUpstreamKindsMapToStatuses(t *testing.T) {
	cases := map[llm.Kind]int{
		llm.KindRateLimited:   429,
		llm.KindOverloaded:    503,
		llm.KindServer:        502,
		llm.KindTimeout:       504,
		llm.KindConnection:    502,
		llm.KindStreamBroken:  502,
		llm.KindContextLength: 400,
		llm.KindContentFilter: 400,
		llm.KindBadRequest:    400,
		llm.KindAuth:          502, // our credentials, not the client's fault
		llm.KindNotFound:      502,
	}
	for k, want := range cases {
		e := AsError(&llm.Error{Kind: k, Provider: "p", Model: "m", RetryAfter: 2 * time.Second})
		if e.Status != want {
			t.Errorf("%s → %d, want %d", k, e.Status, want)
		}
	}
	w := httptest.NewRecorder()
	WriteError(w, &llm.Error{Kind: llm.KindRateLimited, RetryAfter: 1500 * time.Millisecond})
	if w.Header().Get("Retry-After") != "2" {
		t.Errorf("Retry-After = %q, want 2 (rounded up)", w.Header().Get("Retry-After"))
	}
}

// TestUncleanPathsAreNotRedirected: ServeMux would answer a path with ..
// or // with a 307 to the cleaned path and an HTML body; Bulwark answers
// 404 in OpenAI's format and reaches no route.
func TestUncleanPathsAreNotRedirected(t *testing.T) {
	for _, p := range []string{"/admin/v1/keys/../x", "/v1//echo", "/v1/./echo", "/admin/v1/x/.."} {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path = p // as a raw request line would carry it
		r.Header.Set("Authorization", "Bearer admin")
		w := httptest.NewRecorder()
		testHandler().ServeHTTP(w, r)
		if w.Code != 404 || w.Header().Get("Location") != "" || !strings.Contains(w.Body.String(), `"code":"unknown_url"`) ||
			!strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Errorf("%s: %d %q %q %s", p, w.Code, w.Header().Get("Location"), w.Header().Get("Content-Type"), w.Body)
		}
	}
	if w := serve("GET", "/admin/v1/x", "admin", ""); w.Code != 200 {
		t.Fatalf("clean path: %d %s", w.Code, w.Body)
	}
}

// TestSlowBodyNamesNoAddresses: a body that stops arriving is a 408 in
// OpenAI's format that does not repeat the network error, which names the
// server's and the client's socket addresses.
func TestSlowBodyNamesNoAddresses(t *testing.T) {
	srv := httptest.NewUnstartedServer(testHandler())
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Content-Length promises more than is sent.
	if _, err := io.WriteString(conn, "POST /v1/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer user\r\nContent-Length: 10\r\n\r\n{\"a\""); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), `"code":"request_timeout"`) {
		t.Errorf("slow body: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "127.0.0.1") || strings.Contains(string(body), "tcp") {
		t.Errorf("slow body's error names the connection: %s", body)
	}
}
