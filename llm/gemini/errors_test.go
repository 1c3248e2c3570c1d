package gemini

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
)

func googleBody(code int, status, msg, details string) string {
	return fmt.Sprintf(`{"error":{"code":%d,"message":%q,"status":%q%s}}`, code, msg, status, details)
}

func TestStatusErrors(t *testing.T) {
	retry := `,"details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"27.5s"}]`
	keyInvalid := `,"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]`
	cases := []struct {
		name   string
		status int
		header http.Header
		body   string
		kind   llm.Kind
		retry  time.Duration
		code   string
	}{
		{"quota", 429, nil, googleBody(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", retry), llm.KindRateLimited, 27500 * time.Millisecond, "RESOURCE_EXHAUSTED"},
		{"quota header", 429, http.Header{"Retry-After": {"3"}}, googleBody(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted.", ""), llm.KindRateLimited, 3 * time.Second, "RESOURCE_EXHAUSTED"},
		{"overloaded", 503, nil, googleBody(503, "UNAVAILABLE", "The model is overloaded. Please try again later.", ""), llm.KindOverloaded, 0, "UNAVAILABLE"},
		{"internal", 500, nil, googleBody(500, "INTERNAL", "An internal error has occurred.", ""), llm.KindServer, 0, "INTERNAL"},
		{"deadline", 504, nil, googleBody(504, "DEADLINE_EXCEEDED", "Deadline exceeded.", ""), llm.KindTimeout, 0, "DEADLINE_EXCEEDED"},
		{"unauthenticated", 401, nil, googleBody(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.", ""), llm.KindAuth, 0, "UNAUTHENTICATED"},
		{"permission", 403, nil, googleBody(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.", ""), llm.KindAuth, 0, "PERMISSION_DENIED"},
		{"key invalid", 400, nil, googleBody(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", keyInvalid), llm.KindAuth, 0, "INVALID_ARGUMENT"},
		{"not found", 404, nil, googleBody(404, "NOT_FOUND", "models/nope is not found for API version v1beta.", ""), llm.KindNotFound, 0, "NOT_FOUND"},
		{"context", 400, nil, googleBody(400, "INVALID_ARGUMENT", "The input token count (1048577) exceeds the maximum number of tokens allowed (1048576).", ""), llm.KindContextLength, 0, "INVALID_ARGUMENT"},
		{"bad request", 400, nil, googleBody(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unknown name \"foo\".", ""), llm.KindBadRequest, 0, "INVALID_ARGUMENT"},
		{"location", 400, nil, googleBody(400, "FAILED_PRECONDITION", "User location is not supported for the API use.", ""), llm.KindBadRequest, 0, "FAILED_PRECONDITION"},
		{"array form", 429, nil, "[" + googleBody(429, "RESOURCE_EXHAUSTED", "quota", retry) + "]", llm.KindRateLimited, 27500 * time.Millisecond, "RESOURCE_EXHAUSTED"},
		{"html", 502, nil, "<html><body>Bad Gateway</body></html>", llm.KindServer, 0, ""},
		{"empty", 503, nil, "", llm.KindOverloaded, 0, ""},
	}
	for _, c := range cases {
		f := &fake{status: c.status, body: c.body, header: c.header}
		srv := httptest.NewServer(f)
		cl, err := New(Options{Name: "gm", BaseURL: srv.URL, APIKey: testKey})
		if err != nil {
			t.Fatal(err)
		}
		for _, stream := range []bool{false, true} {
			var err error
			if stream {
				_, err = cl.Stream(t.Context(), chatReq("m", true))
			} else {
				_, err = cl.Chat(t.Context(), chatReq("m", false))
			}
			e := asError(t, err)
			if e.Kind != c.kind || e.Status != c.status || e.RetryAfter != c.retry || e.Code != c.code || e.Model != "m" || e.Message == "" {
				t.Errorf("%s (stream %v): %+v", c.name, stream, e)
			}
		}
		srv.Close()
	}
	if e := (&Client{name: "gm"}).statusError(400, nil, []byte(googleBody(400, "INVALID_ARGUMENT", "x", keyInvalid)), "m"); e.Type != "API_KEY_INVALID" {
		t.Errorf("ErrorInfo reason: %+v", e)
	}
}

func TestParseDelay(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"27s": 27 * time.Second, "0.5s": 500 * time.Millisecond, "1.000000001s": time.Second + time.Nanosecond,
		"": 0, "5": 0, "-1s": 0, "abc": 0, "1e9s": 0,
	} {
		if got := parseDelay(in); got != want {
			t.Errorf("parseDelay(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestTransportErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	cl, err := New(Options{Name: "gm", BaseURL: url, APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.Chat(t.Context(), chatReq("m", false))
	if e := asError(t, err); e.Kind != llm.KindConnection || strings.Contains(e.Error(), testKey) {
		t.Errorf("refused: %v", e)
	}
}

func TestKeyNeverShown(t *testing.T) {
	// An upstream that echoes the key back in its error message.
	c, f := newFake(t, 400, "", googleBody(400, "INVALID_ARGUMENT", "bad key "+testKey, ""))
	_, err := c.Chat(t.Context(), chatReq("m", false))
	if e := asError(t, err); strings.Contains(e.Error(), testKey) || strings.Contains(e.Message, testKey) {
		t.Errorf("error shows the key: %v", e)
	}
	if r := f.last(t); strings.Contains(r.query, testKey) || strings.Contains(r.path, testKey) {
		t.Errorf("the key is in the URL: %s?%s", r.path, r.query)
	}
	o := Options{Name: "gm", APIKey: testKey, Headers: map[string]string{"X-Secret": "v"}}
	var sb strings.Builder
	slog.New(slog.NewTextHandler(&sb, nil)).Info("options", "o", o)
	for _, s := range []string{o.String(), fmt.Sprintf("%v %+v %#v", o, o, o), sb.String(), c.String()} {
		if strings.Contains(s, testKey) || strings.Contains(s, "=v") {
			t.Errorf("shows a secret: %s", s)
		}
	}
	if _, err := New(Options{Name: "gm", BaseURL: "https://x.example/v1beta?key=" + testKey}); err == nil || strings.Contains(err.Error(), testKey) {
		t.Errorf("a key in the base URL: %v", err)
	}
}

func TestNew(t *testing.T) {
	c, err := New(Options{Name: "gm"})
	if err != nil || c.base != DefaultBaseURL {
		t.Fatalf("default base: %v %v", c, err)
	}
	if got := c.url("models/gemini-2.5-pro", "generateContent", "alt=sse"); got != DefaultBaseURL+"/models/gemini-2.5-pro:generateContent?alt=sse" {
		t.Errorf("url %s", got)
	}
	c, _ = New(Options{Name: "gm", BaseURL: "http://proxy.local/gemini/v1beta/?tenant=a"})
	if got := c.url("a/b", "embedContent", ""); got != "http://proxy.local/gemini/v1beta/models/a%2Fb:embedContent?tenant=a" {
		t.Errorf("url %s", got)
	}
	for _, bad := range []string{"ftp://x", "http://", "http://x/#f", "::"} {
		if _, err := New(Options{Name: "gm", BaseURL: bad}); err == nil {
			t.Errorf("New accepted %q", bad)
		}
	}
}
