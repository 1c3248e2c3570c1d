package ui

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestHandlerServesAssetsWithSecurityHeaders(t *testing.T) {
	h := Handler()
	for path, typ := range map[string]string{
		"/ui/":           "text/html; charset=utf-8",
		"/ui/index.html": "text/html; charset=utf-8",
		"/ui/js/app.js":  "text/javascript; charset=utf-8",
		"/ui/style.css":  "text/css; charset=utf-8",
		"/ui/logo.svg":   "image/svg+xml",
	} {
		res := get(t, h, path)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != typ || len(body) == 0 {
			t.Errorf("GET %s = %d %q, %d bytes; want 200 %q", path, res.StatusCode, res.Header.Get("Content-Type"), len(body), typ)
		}
		for k, v := range map[string]string{
			"Content-Security-Policy": ContentSecurityPolicy,
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
			"X-Content-Type-Options":  "nosniff",
		} {
			if got := res.Header.Get(k); got != v {
				t.Errorf("GET %s: %s = %q; want %q", path, k, got, v)
			}
		}
		if res.Header.Get("ETag") == "" {
			t.Errorf("GET %s: no ETag", path)
		}
	}
	if !strings.Contains(ContentSecurityPolicy, "default-src 'self'") || strings.Contains(ContentSecurityPolicy, "unsafe-inline") {
		t.Errorf("CSP %q", ContentSecurityPolicy)
	}
}

func TestHandlerRevalidatesByETag(t *testing.T) {
	h := Handler()
	etag := get(t, h, "/ui/js/app.js").Header.Get("ETag")
	if res := get(t, h, "/ui/js/app.js", "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match the ETag: %d; want 304", res.StatusCode)
	}
}

func TestHandlerUnknownPathIs404InOpenAIFormat(t *testing.T) {
	h := Handler()
	for _, path := range []string{"/ui/nope.js", "/ui/js/", "/ui/assets/index.html", "/uix"} {
		res := get(t, h, path)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 404 || !strings.Contains(string(body), `"code":"unknown_url"`) {
			t.Errorf("GET %s = %d %s; want a 404 unknown_url error", path, res.StatusCode, body)
		}
		if res.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: no CSP on the 404", path)
		}
	}
	if res := get(t, h, "/ui"); res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /ui = %d to %q; want 301 to /ui/", res.StatusCode, res.Header.Get("Location"))
	}
}

// The pages set every value as text: no asset builds HTML from a string.
func TestAssetsNeverParseHTML(t *testing.T) {
	// Every script, not a list that a new one would be missing from.
	names, err := fs.Glob(assets, "assets/js/*.js")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 10 {
		t.Fatalf("found %d scripts under assets/js: %v", len(names), names)
	}
	for _, name := range names {
		b, err := assets.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s uses %s", name, bad)
			}
		}
	}
	b, _ := assets.ReadFile("assets/index.html")
	if strings.Contains(string(b), "<script>") || strings.Contains(string(b), "style=") || strings.Contains(string(b), "http://") || strings.Contains(string(b), "https://") {
		t.Error("index.html has an inline script or style, or an external URL")
	}
	// The key's field has no name: were the script not to run, the form
	// would send nothing, so the key can never end up in a URL.
	if i := strings.Index(string(b), `id="login-key"`); i < 0 || strings.Contains(string(b[i-20:i+120]), "name=") {
		t.Error("the admin key's field has a name")
	}
}
